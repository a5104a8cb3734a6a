vcl 4.1;
# The CDN in front of the two apps (what Fastly does in production), for `make serve` and the
# end-to-end tests. Needs varnish-modules for xkey.
#
# * /legacy/ (uploads) goes to the uploads app, never cached; the rest to the web app, but
#   /metrics, which is not for the public: that is refused.
# * The apps trust Varnish's X-Forwarded-For (WAREHOUSE_TRUSTED_PROXIES): Varnish appends the
#   client's address to it, so per-IP rate limits count clients.
# * TTLs come from the app's Surrogate-Control; the app tags responses with Surrogate-Key,
#   and PURGE with a Surrogate-Key header (from the "purgers" ACL in backends.vcl) drops every
#   object tagged with any of its keys (xkey).
# * Grace: when a backend is down (its health probe fails), stale objects are served for up
#   to a day (stale-if-error); while it is up, a stale object is refetched before answering.
# * /simple/ pages are cached per Accept header (the app sends Vary: Accept).
# * Text (pages, JSON, XML) is stored gzipped and sent gzipped to clients that accept it.
# * POST and other unsafe methods, and responses that set a cookie, are never cached.
# * Surrogate-* headers are for the CDN only and are stripped before delivery.
# * Download statistics: each file served whole to a GET, and each simple page, is logged as
#   one PyPI/Fastly-format line (std.log "stats:", written out by varnishncsa; see
#   docs/stats.md); the file's project, version and package type come from the app's
#   X-Stats-* headers, which are stripped before delivery.

import std;
import xkey;

# The backends and the "purgers" ACL differ between one machine and docker-compose.
include "backends.vcl";

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (req.http.Surrogate-Key) {
            set req.http.X-Purged = xkey.purge(req.http.Surrogate-Key);
            return (synth(200, "Purged " + req.http.X-Purged));
        }
        return (purge);
    }

    # /metrics is for the scraper, which asks each app directly on the private network;
    # the apps also refuse any /metrics that came through here (warehouse.proxies).
    if (req.url ~ "^/+metrics(/|\?|$)") {
        return (synth(404, "Not Found"));
    }

    if (req.url ~ "^/legacy(/|\?|$)") {
        set req.backend_hint = uploads;
        # A body with a length streams through to the app, which holds it to the largest
        # project limit while it spools it; this refuses what no project may upload (2 GiB
        # and the form) before a byte of it is read.
        if (req.http.Content-Length) {
            if (std.integer(req.http.Content-Length, 0) > 2164260864) {
                return (synth(413, "Request Entity Too Large"));
            }
        } elsif (req.method == "POST" || req.method == "PUT") {
            # No length (chunked): Varnish cannot stop a streamed body midway, so it reads it
            # into memory up to 128 MB (the default file limit and its form) and drops a
            # longer one there (it closes the connection: it cannot answer a body it left
            # half read); larger uploads must say their length, as twine does.
            if (!std.cache_req_body(128MB)) {
                return (synth(413, "Request Entity Too Large"));
            }
        }
        return (pass);
    } else {
        set req.backend_hint = web;
    }

    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # The admin area and the reports API are private whatever they answer: never cached.
    if (req.url ~ "^/(admin|danger-api)(/|\?|$)") {
        return (pass);
    }
    # The read APIs and files (and the download statistics API) are the same for everyone: a
    # stray cookie must not make them uncacheable.
    if (req.url ~ "^/(simple|packages)/" || req.url ~ "^/pypi/[^/]+(/[^/]+)?/json/?(\?|$)" ||
        req.url ~ "^/api/packages/[^/]+/[a-z_]+(\?|$)") {
        unset req.http.Cookie;
    }
    if (req.http.Authorization || req.http.Cookie) {
        return (pass);
    }
    # Stale objects only while the backend is down; otherwise fetch before answering.
    if (std.healthy(req.backend_hint)) {
        set req.grace = 0s;
    }
    return (hash);
}

sub vcl_backend_response {
    # An error must not replace a stale copy that can still serve while the app is down:
    # drop the fetch (the client gets a 503, the copy stays; once the probe marks the app
    # down, the copy is served). Uploads and other passes keep the app's own error.
    if (beresp.status >= 500 && !bereq.uncacheable) {
        return (abandon);
    }
    if (beresp.http.Surrogate-Key) {
        set beresp.http.xkey = beresp.http.Surrogate-Key;
    }
    # Text is kept gzipped: one object serves every client (Varnish adds Vary: Accept-Encoding
    # and gunzips for a client that does not accept gzip). Distributions are archives already.
    if (!bereq.uncacheable && !beresp.http.Content-Encoding &&
            beresp.http.Content-Type ~ "^(text/|application/([a-z0-9.+-]*(json|html)|xml|javascript)|image/svg)") {
        set beresp.do_gzip = true;
    }
    if (beresp.http.Set-Cookie || (bereq.method != "GET" && bereq.method != "HEAD")) {
        set beresp.uncacheable = true;
        set beresp.ttl = 120s;
        return (deliver);
    }
    if (beresp.http.Surrogate-Control ~ "max-age=\d+") {
        set beresp.ttl = std.duration(
            regsub(beresp.http.Surrogate-Control, ".*max-age=(\d+).*", "\1") + "s", 0s);
        set beresp.grace = 24h;
        return (deliver);
    }
    # No Surrogate-Control: Varnish's own rules (Cache-Control, no-store ...) apply.
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
    call stats_log;
    unset resp.http.xkey;
    unset resp.http.Surrogate-Key;
    unset resp.http.Surrogate-Control;
    unset resp.http.X-Stats-Project;
    unset resp.http.X-Stats-Version;
    unset resp.http.X-Stats-Package-Type;
}

# The app cannot answer (it is down, or its probe marked it sick), or its error was dropped
# above to keep a stale copy: the 503 says in its reason phrase what to do (twine prints it).
sub vcl_backend_error {
    if (beresp.status == 503) {
        set beresp.reason = "The index is unavailable right now; try again in a minute";
    }
}

sub vcl_synth {
    if (resp.status == 503 && resp.reason ~ "^(Service Unavailable|Backend fetch failed)$") {
        set resp.reason = "The index is unavailable right now; try again in a minute";
    }
}

# One line in the format PyPI's Fastly writes (what linehaul reads):
#   download|<time>|<country>|<path>|<tls protocol>|<tls cipher>|<project>|<version>|<type>|<agent>
#   simple|<time>|<country>|<path>|<tls protocol>|<tls cipher>||||<agent>
# Varnish here has no TLS and no client geography: those fields are (null).
sub stats_log {
    if (req.method == "GET" && resp.status == 200) {
        if (req.http.User-Agent) {
            set req.http.X-Stats-Agent = req.http.User-Agent;
        } else {
            set req.http.X-Stats-Agent = "(null)";
        }
        if (resp.http.X-Stats-Project) {
            std.log("stats:download|" + now + "|(null)|" + regsub(req.url, "\?.*$", "") +
                "|(null)|(null)|" + resp.http.X-Stats-Project + "|" +
                resp.http.X-Stats-Version + "|" + resp.http.X-Stats-Package-Type + "|" +
                req.http.X-Stats-Agent);
        } elsif (req.url ~ "^/simple/[^/?]+/") {
            std.log("stats:simple|" + now + "|(null)|" + regsub(req.url, "\?.*$", "") +
                "|(null)|(null)||||" + req.http.X-Stats-Agent);
        }
    }
}
