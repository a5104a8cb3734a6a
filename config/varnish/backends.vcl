# Where the two apps listen. `make serve` writes its own copy of this file (with the ports it
# chose) into .state/varnish/ and puts that folder first on varnishd's vcl_path.

probe app_health {
    .url = "/_health/";
    .interval = 1s;
    .timeout = 2s;
    .window = 3;
    .threshold = 2;
    .initial = 2;
}

backend web {
    .host = "127.0.0.1";
    .port = "8001";
    .probe = app_health;
    .first_byte_timeout = 60s;
}

backend uploads {
    .host = "127.0.0.1";
    .port = "8002";
    .probe = app_health;
    # An upload is inspected and written to the archive before the app answers.
    .first_byte_timeout = 300s;
    .between_bytes_timeout = 300s;
}

# Who may PURGE: the workers run on this machine.
acl purgers {
    "127.0.0.1";
    "::1";
}
