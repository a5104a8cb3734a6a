# The app backends inside docker-compose: the services "web" and "web-uploads".
probe app_health {
    .url = "/_health/";
    .interval = 1s;
    .timeout = 2s;
    .window = 3;
    .threshold = 2;
    .initial = 2;
}

backend web {
    .host = "web";
    .port = "8000";
    .probe = app_health;
    .first_byte_timeout = 60s;
}

backend uploads {
    .host = "web-uploads";
    .port = "8000";
    .probe = app_health;
    .first_byte_timeout = 300s;
    .between_bytes_timeout = 300s;
}

# Who may PURGE: the worker containers, on the compose network (docker-compose.yml).
acl purgers {
    "127.0.0.1";
    "::1";
    "172.30.80.0"/24;
}
