/*
 * bench load client: many Server-Sent Events subscribers held open at once.
 * One thread, one epoll loop, non-blocking sockets: it opens N connections to
 * http://HOST:PORT/PATH (127.0.0.1 only), RATE new ones a second, sends
 * `GET PATH HTTP/1.1` with `Accept: text/event-stream` on each, checks the
 * 200 head, decodes the body (chunked or not), parses the event stream
 * (WHATWG HTML §9.2.5: lines end with LF, CRLF or CR; a blank line ends an
 * event) and counts, per event: its `id:` (consecutive per connection: a
 * gap is a missed event, an id seen again a duplicate) and, when its data
 * holds `"sent_us":T` (the wall clock in microseconds when the hub
 * published it, as examples/events' ticker does), the delay from T to its
 * arrival. Stops by itself after DURATION seconds (or at SIGINT or SIGTERM),
 * closes everything and prints one line:
 *
 *   RESULT {"connections":N,"open":..,"connect_errors":..,"bad_heads":..,
 *           "closed_by_server":..,"events":..,"steady_events":..,
 *           "steady_seconds":..,"steady_events_per_s":..,"missed":..,
 *           "duplicates":..,"late":..,"p50_ms":..,"p99_ms":..,"max_ms":..,
 *           "all_open_after_s":..}
 *
 * "steady" counts from one second after the last connection got its head to
 * the end; "late" events arrived more than LATE_MS (default 1000) after they
 * were published. A progress line a second goes to stderr.
 *
 *   sse_hold -c N -d DURATION [-r RATE] [-l LATE_MS] HOST:PORT PATH
 *
 * Built by bench/sse:  gcc -O2 sse_hold.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 512
#define MAX_DELAY_MS 60000

enum state { CONNECTING, HEAD, BODY, DONE };
enum chunk { CH_SIZE, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_NONE };

struct conn {
    int fd;
    enum state state;
    char head[2048];
    size_t head_len;
    int chunked;
    enum chunk ch;
    uint64_t chunk_left;
    char line[LINE_MAX_BYTES];
    size_t line_len;
    int line_cr; /* the last byte was CR: a following LF belongs to it */
    int has_data;
    long long event_id; /* of the event being read, -1 if none */
    long long sent_us;  /* of the event being read, -1 if none */
    long long last_id;  /* of the last event, -1 before one */
};

static volatile sig_atomic_t stop_now;

static void on_stop(int sig) {
    (void)sig;
    stop_now = 1;
}

static long long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct {
    long long events, steady_events, missed, duplicates, late;
    long long connect_errors, bad_heads, closed_by_server, open, heads;
    unsigned long long delay_hist[MAX_DELAY_MS + 1];
    long long delays;
    int steady;
    long late_ms;
} st;

static void event_done(struct conn* c) {
    st.events++;
    if (st.steady)
        st.steady_events++;
    if (c->event_id >= 0) {
        if (c->last_id >= 0) {
            if (c->event_id > c->last_id + 1)
                st.missed += c->event_id - c->last_id - 1;
            else if (c->event_id <= c->last_id)
                st.duplicates++;
        }
        if (c->event_id > c->last_id)
            c->last_id = c->event_id;
    }
    if (c->sent_us >= 0) {
        long long ms = (now_us() - c->sent_us) / 1000;
        if (ms < 0)
            ms = 0;
        if (ms > MAX_DELAY_MS)
            ms = MAX_DELAY_MS;
        st.delay_hist[ms]++;
        st.delays++;
        if (ms > st.late_ms)
            st.late++;
    }
}

/* One line of the event stream (without its end). */
static void sse_line(struct conn* c) {
    const char* l = c->line;
    size_t n = c->line_len;
    if (n == 0) {
        if (c->has_data)
            event_done(c);
        c->has_data = 0;
        c->event_id = -1;
        c->sent_us = -1;
        return;
    }
    if (l[0] == ':')
        return;
    if (n >= 5 && memcmp(l, "data:", 5) == 0) {
        c->has_data = 1;
        const char* p = memmem(l, n, "\"sent_us\":", 10);
        if (p != NULL) {
            p += 10;
            long long v = 0;
            while (p < l + n && *p >= '0' && *p <= '9')
                v = v * 10 + (*p++ - '0');
            c->sent_us = v;
        }
    } else if (n >= 3 && memcmp(l, "id:", 3) == 0) {
        const char* p = l + 3;
        if (p < l + n && *p == ' ')
            p++;
        long long v = 0;
        int any = 0;
        while (p < l + n && *p >= '0' && *p <= '9') {
            v = v * 10 + (*p++ - '0');
            any = 1;
        }
        c->event_id = any ? v : -1;
    }
}

static void sse_bytes(struct conn* c, const char* p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char b = p[i];
        if (c->line_cr && b == '\n') {
            c->line_cr = 0;
            continue;
        }
        c->line_cr = 0;
        if (b == '\r' || b == '\n') {
            sse_line(c);
            c->line_len = 0;
            c->line_cr = b == '\r';
            continue;
        }
        if (c->line_len < LINE_MAX_BYTES)
            c->line[c->line_len++] = b;
    }
}

/* Body bytes: through the chunked decoder when the head said so. Returns
 * -1 at the end of the body or on a framing error. */
static int body_bytes(struct conn* c, const char* p, size_t n) {
    if (!c->chunked) {
        sse_bytes(c, p, n);
        return 0;
    }
    size_t i = 0;
    while (i < n) {
        char b = p[i];
        switch (c->ch) {
            case CH_SIZE:
                i++;
                if (b >= '0' && b <= '9')
                    c->chunk_left = c->chunk_left * 16 + (uint64_t)(b - '0');
                else if (b >= 'a' && b <= 'f')
                    c->chunk_left = c->chunk_left * 16 + (uint64_t)(b - 'a' + 10);
                else if (b >= 'A' && b <= 'F')
                    c->chunk_left = c->chunk_left * 16 + (uint64_t)(b - 'A' + 10);
                else if (b == '\r')
                    c->ch = CH_SIZE_LF;
                else if (b != ';' && b != ' ')
                    return -1;
                break;
            case CH_SIZE_LF:
                i++;
                if (b != '\n')
                    return -1;
                if (c->chunk_left == 0)
                    return -1; /* the last chunk: the server ended the stream */
                c->ch = CH_DATA;
                break;
            case CH_DATA: {
                size_t take = n - i;
                if (take > c->chunk_left)
                    take = (size_t)c->chunk_left;
                sse_bytes(c, p + i, take);
                i += take;
                c->chunk_left -= take;
                if (c->chunk_left == 0)
                    c->ch = CH_DATA_CR;
                break;
            }
            case CH_DATA_CR:
                i++;
                if (b != '\r')
                    return -1;
                c->ch = CH_DATA_LF;
                break;
            case CH_DATA_LF:
                i++;
                if (b != '\n')
                    return -1;
                c->ch = CH_SIZE;
                c->chunk_left = 0;
                break;
            case CH_NONE:
                return -1;
        }
    }
    return 0;
}

static int ep;
static const char* req_text;
static size_t req_len;
static struct sockaddr_in addr;

static void conn_close(struct conn* c) {
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    if (c->state == BODY)
        st.open--;
    c->state = DONE;
}

static void conn_start(struct conn* c) {
    memset(c, 0, sizeof(*c));
    c->event_id = c->sent_us = c->last_id = -1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        st.connect_errors++;
        c->state = DONE;
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr*)&addr, sizeof(addr)) != 0 && errno != EINPROGRESS) {
        st.connect_errors++;
        close(c->fd);
        c->fd = -1;
        c->state = DONE;
        return;
    }
    c->state = CONNECTING;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void conn_event(struct conn* c, uint32_t events) {
    if (c->state == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
            st.connect_errors++;
            conn_close(c);
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        /* The request is small: one send takes it. */
        if (send(c->fd, req_text, req_len, MSG_NOSIGNAL) != (ssize_t)req_len) {
            st.connect_errors++;
            conn_close(c);
            return;
        }
        c->state = HEAD;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        return;
    }
    char buf[16384];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (c->state == BODY)
                st.closed_by_server++;
            else
                st.bad_heads++;
            conn_close(c);
            return;
        }
        const char* p = buf;
        size_t left = (size_t)n;
        if (c->state == HEAD) {
            size_t take = left;
            if (take > sizeof(c->head) - 1 - c->head_len)
                take = sizeof(c->head) - 1 - c->head_len;
            memcpy(c->head + c->head_len, p, take);
            c->head_len += take;
            c->head[c->head_len] = 0;
            char* end = strstr(c->head, "\r\n\r\n");
            if (end == NULL) {
                if (c->head_len == sizeof(c->head) - 1) {
                    st.bad_heads++;
                    conn_close(c);
                    return;
                }
                continue;
            }
            if (strncmp(c->head, "HTTP/1.1 200", 12) != 0 ||
                !strcasestr(c->head, "text/event-stream")) {
                st.bad_heads++;
                conn_close(c);
                return;
            }
            c->chunked = strcasestr(c->head, "transfer-encoding: chunked") != NULL;
            c->ch = c->chunked ? CH_SIZE : CH_NONE;
            c->state = BODY;
            st.open++;
            st.heads++;
            /* body bytes that came with the head */
            size_t head_bytes = (size_t)(end + 4 - c->head);
            size_t consumed_before = c->head_len - take;
            size_t body_from = head_bytes - consumed_before;
            p += body_from;
            left -= body_from;
        }
        if (left > 0 && body_bytes(c, p, left) < 0) {
            st.closed_by_server++;
            conn_close(c);
            return;
        }
    }
}

static double percentile(double q) {
    if (st.delays == 0)
        return -1;
    long long want = (long long)(q * (double)st.delays);
    if (want >= st.delays)
        want = st.delays - 1;
    long long seen = 0;
    for (int ms = 0; ms <= MAX_DELAY_MS; ms++) {
        seen += (long long)st.delay_hist[ms];
        if (seen > want)
            return ms;
    }
    return MAX_DELAY_MS;
}

int main(int argc, char** argv) {
    long count = 1000, rate = 2500;
    double duration = 30;
    st.late_ms = 1000;
    int opt;
    while ((opt = getopt(argc, argv, "c:d:r:l:")) != -1) {
        switch (opt) {
            case 'c':
                count = atol(optarg);
                break;
            case 'd':
                duration = atof(optarg);
                break;
            case 'r':
                rate = atol(optarg);
                break;
            case 'l':
                st.late_ms = atol(optarg);
                break;
            default:
                goto usage;
        }
    }
    if (optind + 2 != argc || count <= 0 || rate <= 0 || duration <= 0) {
    usage:
        fprintf(stderr, "usage: sse_hold -c N -d DURATION [-r RATE] [-l LATE_MS] HOST:PORT PATH\n");
        return 2;
    }
    char host[64];
    const char* colon = strrchr(argv[optind], ':');
    if (colon == NULL || (size_t)(colon - argv[optind]) >= sizeof(host))
        goto usage;
    memcpy(host, argv[optind], (size_t)(colon - argv[optind]));
    host[colon - argv[optind]] = 0;
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1 || strcmp(host, "127.0.0.1") != 0) {
        fprintf(stderr, "sse_hold: 127.0.0.1 only\n");
        return 2;
    }
    static char req[1024];
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n"
             "Cache-Control: no-cache\r\n\r\n",
             argv[optind + 1], argv[optind]);
    req_text = req;
    req_len = strlen(req);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)count + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    struct conn* conns = calloc((size_t)count, sizeof(struct conn));
    if (conns == NULL)
        return 1;
    ep = epoll_create1(EPOLL_CLOEXEC);
    const double start = mono_s();
    double all_open_at = -1, steady_from = -1, next_report = start + 1;
    long started = 0;
    struct epoll_event evs[256];
    for (;;) {
        const double t = mono_s();
        if (t - start >= duration || stop_now)
            break;
        /* Ramp: as many new connections as RATE allows by now. */
        long due = (long)((t - start) * (double)rate) + 1;
        if (due > count)
            due = count;
        while (started < due)
            conn_start(&conns[started++]);
        if (all_open_at < 0 && st.heads + st.connect_errors + st.bad_heads >= count) {
            all_open_at = t - start;
            steady_from = t + 1;
        }
        if (steady_from > 0 && t >= steady_from && !st.steady) {
            st.steady = 1;
            steady_from = t;
        }
        if (t >= next_report) {
            fprintf(stderr,
                    "sse_hold t=%.0fs started=%ld open=%lld events=%lld missed=%lld late=%lld\n",
                    t - start, started, st.open, st.events, st.missed, st.late);
            next_report += 1;
        }
        const int n = epoll_wait(ep, evs, 256, 20);
        for (int i = 0; i < n; i++) {
            struct conn* c = evs[i].data.ptr;
            if (c->state != DONE)
                conn_event(c, evs[i].events);
        }
    }
    const double end = mono_s();
    long long open = st.open;
    for (long i = 0; i < started; i++)
        if (conns[i].state != DONE)
            conn_close(&conns[i]);
    const double steady_s = st.steady ? end - steady_from : 0;
    printf(
        "RESULT {\"connections\":%ld,\"open\":%lld,\"connect_errors\":%lld,\"bad_heads\":%lld,"
        "\"closed_by_server\":%lld,\"events\":%lld,\"steady_events\":%lld,"
        "\"steady_seconds\":%.2f,\"steady_events_per_s\":%.1f,\"missed\":%lld,"
        "\"duplicates\":%lld,\"late\":%lld,\"p50_ms\":%.0f,\"p99_ms\":%.0f,\"max_ms\":%.0f,"
        "\"all_open_after_s\":%.2f}\n",
        count, open, st.connect_errors, st.bad_heads, st.closed_by_server, st.events,
        st.steady_events, steady_s, steady_s > 0 ? (double)st.steady_events / steady_s : 0.0,
        st.missed, st.duplicates, st.late, percentile(0.50), percentile(0.99), percentile(1.0),
        all_open_at);
    free(conns);
    return 0;
}
