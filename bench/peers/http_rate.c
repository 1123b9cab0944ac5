/* bench/peers/http_rate.c: an open-loop HTTP/1.1 load at a fixed rate.
 *
 *   http_rate -c CONNS -r RATE -d SECONDS HOST:PORT PATH
 *
 * CONNS kept-alive connections to 127.0.0.1 share RATE requests a second:
 * each connection's requests are due at fixed times (its share of the rate,
 * the connections' schedules staggered). A request is timed from when it was
 * due, not from when it could be sent: a response that comes late delays
 * the requests behind it on its connection, and their wait counts (no
 * coordinated omission). One thread, epoll, nanosecond timeouts
 * (epoll_pwait2). A response must be 2xx with a Content-Length.
 *
 * Prints one line: RESULT {"due":N,"completed":N,"failed":N,"non2xx":N,
 * "rps":R,"p50_ms":..,"p90_ms":..,"p99_ms":..,"p999_ms":..,"max_ms":..}
 * Bounded: 127.0.0.1 only, SECONDS at most 300, CONNS at most 4096.
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    int64_t next_due;  /* ns: when this connection's next request is due */
    int64_t in_flight; /* ns: the due time of the request in flight, -1: none */
    char buf[8192];
    size_t have;
};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct sockaddr_in addr;
static char req[512];
static size_t req_len;
static int ep;

static int open_conn(struct conn* c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr*)&addr, sizeof(addr)) != 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->have = 0;
    c->in_flight = -1;
    return 0;
}

static int cmp_i64(const void* a, const void* b) {
    const int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
    return (x > y) - (x < y);
}

static double pct(const int64_t* v, long n, double q) {
    if (n == 0)
        return -1;
    long i = (long)(q * (double)(n - 1) + 0.5);
    return (double)v[i] / 1e6;
}

/* A whole response at the start of c->buf: its length, 0 for not yet, -1
 * for one that is not 2xx with a Content-Length (*status set). */
static long whole_response(struct conn* c, int* status) {
    c->buf[c->have < sizeof(c->buf) ? c->have : sizeof(c->buf) - 1] = 0;
    char* end = strstr(c->buf, "\r\n\r\n");
    if (end == NULL)
        return c->have >= sizeof(c->buf) - 1 ? -1 : 0;
    *status = atoi(c->buf + 9);
    const char* cl = strcasestr(c->buf, "\r\ncontent-length:");
    if (cl == NULL || cl > end)
        return -1;
    const long body = atol(cl + 17);
    const long total = (long)(end + 4 - c->buf) + body;
    if (total > (long)sizeof(c->buf) - 1)
        return -1;
    return (long)c->have >= total ? total : 0;
}

int main(int argc, char** argv) {
    long conns = 64, rate = 1000;
    double duration = 10;
    int opt;
    while ((opt = getopt(argc, argv, "c:r:d:")) != -1) {
        if (opt == 'c')
            conns = atol(optarg);
        else if (opt == 'r')
            rate = atol(optarg);
        else if (opt == 'd')
            duration = atof(optarg);
        else
            goto usage;
    }
    if (optind + 2 != argc || conns < 1 || conns > 4096 || rate < 1 || duration <= 0 ||
        duration > 300) {
    usage:
        fprintf(stderr, "usage: http_rate -c CONNS -r RATE -d SECONDS 127.0.0.1:PORT PATH\n");
        return 2;
    }
    const char* colon = strrchr(argv[optind], ':');
    if (colon == NULL || strncmp(argv[optind], "127.0.0.1:", 10) != 0) {
        fprintf(stderr, "http_rate: 127.0.0.1 only\n");
        return 2;
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(colon + 1));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", argv[optind + 1],
             argv[optind]);
    req_len = strlen(req);
    signal(SIGPIPE, SIG_IGN);

    ep = epoll_create1(EPOLL_CLOEXEC);
    struct conn* cs = calloc((size_t)conns, sizeof(struct conn));
    const long total_due = (long)((double)rate * duration);
    int64_t* lat = malloc(sizeof(int64_t) * (size_t)(total_due + conns + 1));
    if (cs == NULL || lat == NULL)
        return 1;
    /* Each connection: one request every `every` ns, schedules staggered. */
    const int64_t every = (int64_t)(1e9 * (double)conns / (double)rate);
    const int64_t start = now_ns() + 100000000LL; /* 100 ms to connect */
    const int64_t stop = start + (int64_t)(duration * 1e9);
    for (long i = 0; i < conns; i++) {
        if (open_conn(&cs[i]) != 0) {
            fprintf(stderr, "http_rate: cannot connect: %s\n", strerror(errno));
            return 1;
        }
        cs[i].next_due = start + every * i / conns;
    }
    long due = 0, done = 0, failed = 0, non2xx = 0;
    struct epoll_event evs[256];
    for (;;) {
        const int64_t t = now_ns();
        /* Send what is due on idle connections; find the next due time. */
        int64_t next = stop;
        int busy = 0;
        for (long i = 0; i < conns; i++) {
            struct conn* c = &cs[i];
            if (c->in_flight >= 0) {
                busy = 1;
                continue;
            }
            if (c->next_due < stop && c->next_due <= t) {
                if (send(c->fd, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len) {
                    failed++;
                    close(c->fd);
                    if (open_conn(c) != 0)
                        return 1;
                    c->next_due += every;
                    continue;
                }
                c->in_flight = c->next_due;
                c->next_due += every;
                due++;
                busy = 1;
            } else if (c->next_due < next) {
                next = c->next_due;
            }
        }
        if (t >= stop && !busy)
            break;
        if (t >= stop + 5000000000LL)
            break; /* responses still missing 5 s after the end: failed */
        int64_t wait = next - now_ns();
        if (busy && (wait > 5000000000LL || t >= stop))
            wait = 100000000LL;
        if (wait < 0)
            wait = 0;
        struct timespec to = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
        const int n = epoll_pwait2(ep, evs, 256, &to, NULL);
        for (int k = 0; k < n; k++) {
            struct conn* c = evs[k].data.ptr;
            const ssize_t r = recv(c->fd, c->buf + c->have, sizeof(c->buf) - 1 - c->have, 0);
            if (r <= 0) {
                if (c->in_flight >= 0)
                    failed++;
                close(c->fd);
                if (open_conn(c) != 0)
                    return 1;
                continue;
            }
            c->have += (size_t)r;
            int status = 0;
            const long whole = whole_response(c, &status);
            if (whole == 0)
                continue;
            if (whole < 0 || c->in_flight < 0) {
                failed++;
                close(c->fd);
                if (open_conn(c) != 0)
                    return 1;
                continue;
            }
            if (status < 200 || status > 299)
                non2xx++;
            lat[done++] = now_ns() - c->in_flight;
            c->in_flight = -1;
            memmove(c->buf, c->buf + whole, c->have - (size_t)whole);
            c->have -= (size_t)whole;
        }
    }
    for (long i = 0; i < conns; i++)
        if (cs[i].in_flight >= 0)
            failed++;
    qsort(lat, (size_t)done, sizeof(int64_t), cmp_i64);
    printf(
        "RESULT {\"due\":%ld,\"completed\":%ld,\"failed\":%ld,\"non2xx\":%ld,\"rps\":%.1f,"
        "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}\n",
        due, done, failed, non2xx, (double)done / duration, pct(lat, done, 0.50),
        pct(lat, done, 0.90), pct(lat, done, 0.99), pct(lat, done, 0.999), pct(lat, done, 1.0));
    return 0;
}
