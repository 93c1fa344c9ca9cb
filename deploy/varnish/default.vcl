# Varnish in front of the livefeed feed service: keeps every cacheable view for as long as the
# feed's Surrogate-Control allows (LIVEFEED_EDGE_MAX_AGE) and drops it the moment the purger
# says what it shows changed (the xkey vmod, keyed by the feed's Surrogate-Key header).
#
# The purger (`livefeed purger`, LIVEFEED_PURGE_VARNISH=http://varnish:80/) sends
#   PURGE /  with  xkey-purge: <keys>      gone at once (retractions, items leaving a view)
#   PURGE /  with  xkey-softpurge: <keys>  stale: the next request refetches (publish, update)
# from an address in the `purgers` ACL and with X-Purge-Secret: LIVEFEED_PURGE_SECRET, which
# varnishd reads from its own environment (docker-compose.yml passes the purger's value). The
# address alone proves nothing: nginx, and so every reader, reaches Varnish from the same private
# network. Without the variable (or shorter than 16 characters) every PURGE is refused.
# Compression: Varnish's http_gzip_support (on by default; keep it on) asks the feed for gzip on
# every fetch, keeps that one gzip copy of a view (it does not vary on Accept-Encoding) and
# decodes it for clients that take no gzip; the feed compresses each view once and sends
# Vary: Accept-Encoding, which Varnish passes on to browsers and any cache beyond it.
# WebSocket and SSE never go through the cache. The keys (Surrogate-Key, Cache-Tag, xkey) and
# Surrogate-Control are for this cache only: never delivered to readers.
vcl 4.1;

import std;
import xkey;

# The feed service (docker-compose: the `feed` service; tests rewrite these two lines).
backend feed {
    .host = "feed";
    .port = "8002";
    .connect_timeout = 2s;
    .first_byte_timeout = 10s;
}

# Where a purge may come from: this host and private networks (the compose network); the secret
# below decides. Tighten to the purger's address where it has a fixed one.
acl purgers {
    "127.0.0.1";
    "::1";
    "10.0.0.0"/8;
    "172.16.0.0"/12;
    "192.168.0.0"/16;
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (std.getenv("LIVEFEED_PURGE_SECRET") !~ "^.{16,}$") {
            return (synth(403, "Purging is off: LIVEFEED_PURGE_SECRET is not set"));
        }
        if (!(req.http.X-Purge-Secret == std.getenv("LIVEFEED_PURGE_SECRET"))) {
            return (synth(403, "Forbidden"));
        }
        if (req.http.xkey-purge) {
            set req.http.n-gone = xkey.purge(req.http.xkey-purge);
        } elsif (req.http.xkey-softpurge) {
            set req.http.n-gone = xkey.softpurge(req.http.xkey-softpurge);
        } else {
            return (synth(400, "PURGE needs an xkey-purge or xkey-softpurge header"));
        }
        # 200 even when nothing was cached under those keys: the purge did what was asked.
        return (synth(200, "Purged " + req.http.n-gone + " objects"));
    }
    # The secret is for PURGE alone: never passed on to the feed.
    unset req.http.X-Purge-Secret;
    # Live connections are streamed straight through, never cached.
    if (req.http.Upgrade ~ "(?i)websocket") {
        return (pipe);
    }
    # (/v1/updates, the long-poll, is held: never coalesced with other readers.)
    if (req.url ~ "^/v1/(stream|events|updates)" || req.http.Accept ~ "text/event-stream") {
        return (pass);
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    if (req.http.Authorization) {
        return (pass);
    }
    # No view depends on cookies: one cached copy for every reader.
    unset req.http.Cookie;
    return (hash);
}

sub vcl_pipe {
    if (req.http.Upgrade) {
        set bereq.http.Upgrade = req.http.Upgrade;
        set bereq.http.Connection = req.http.Connection;
    }
}

sub vcl_backend_fetch {
    # The long-poll is held up to 50 s before its first byte (services/feed/grip.py).
    if (bereq.url ~ "^/v1/updates") {
        set bereq.first_byte_timeout = 65s;
    }
}

sub vcl_backend_response {
    if (beresp.http.Content-Type ~ "text/event-stream") {
        set beresp.do_stream = true;
        set beresp.uncacheable = true;
        return (deliver);
    }
    # Only what the feed marks for edges is kept, for as long as it says; the short
    # Cache-Control is the browsers'.
    if (beresp.status == 200 && beresp.http.Surrogate-Control ~ "max-age=[0-9]+") {
        set beresp.ttl = std.duration(
            regsub(beresp.http.Surrogate-Control, "^.*max-age=([0-9]+).*$", "\1s"), 0s);
        set beresp.grace = 0s;
        if (beresp.http.Surrogate-Control ~ "stale-while-revalidate=[0-9]+") {
            set beresp.grace = std.duration(regsub(beresp.http.Surrogate-Control,
                "^.*stale-while-revalidate=([0-9]+).*$", "\1s"), 0s);
        }
        set beresp.http.xkey = regsuball(beresp.http.Surrogate-Key, ",", " ");
        return (deliver);
    }
    # Everything else (errors, 404s, problem documents) is passed on and not kept.
    set beresp.uncacheable = true;
    set beresp.ttl = 1s;
    return (deliver);
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
    # The cache's own headers: readers never see what a view is filed under.
    unset resp.http.xkey;
    unset resp.http.Surrogate-Key;
    unset resp.http.Cache-Tag;
    unset resp.http.Surrogate-Control;
    unset resp.http.Via;
    unset resp.http.X-Varnish;
}
