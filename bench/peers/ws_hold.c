/* bench/peers/ws_hold.c: holds N idle WebSocket connections open and
 * measures the round-trip time of an echo among them.
 *
 *   ws_hold -a 127.0.0.1 -p PORT -u /chat/echo -n 10000 [-e 1000] [-s 32]
 *           [-i 5] [-t 60]
 *
 * 1. Opens N connections (in batches, 127.0.0.1 only), sends the opening
 *    handshake (RFC 6455 §4.1) and waits for every 101.
 * 2. Holds them idle for -i seconds and checks that none was closed.
 * 3. Sends -e text messages of -s bytes, one at a time, each on another of
 *    the connections (spread over all of them), masked as a client must,
 *    and times each until its echo is back.
 * 4. Prints one line: `opened=N failed=F dropped=D echoes=E rtt_p50_us=..
 *    rtt_p99_us=.. rtt_max_us=.. connect_s=..`, and exits 0 when every
 *    connection opened, none dropped and every echo came back.
 * Everything stops by itself within -t seconds (default 120).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct conn {
    int fd;
    int state; /* 0 connecting/handshaking, 1 open, 2 failed */
    int got;
    char head[512];
};

static const char *addr = "127.0.0.1";
static int port = 0;
static const char *path = "/";
static int deadline_fail(double deadline) { return now_s() > deadline; }

static int send_all(int fd, const char *p, size_t n, double deadline) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (deadline_fail(deadline)) return -1;
            usleep(100);
            continue;
        }
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    int n = 1000, echoes = 1000, size = 32, idle = 5, limit = 120, opt;
    while ((opt = getopt(argc, argv, "a:p:u:n:e:s:i:t:")) != -1) {
        switch (opt) {
            case 'a': addr = optarg; break;
            case 'p': port = atoi(optarg); break;
            case 'u': path = optarg; break;
            case 'n': n = atoi(optarg); break;
            case 'e': echoes = atoi(optarg); break;
            case 's': size = atoi(optarg); break;
            case 'i': idle = atoi(optarg); break;
            case 't': limit = atoi(optarg); break;
            default:
                fprintf(stderr, "usage: ws_hold -a ADDR -p PORT -u PATH -n N -e ECHOES -s BYTES -i IDLE_S -t LIMIT_S\n");
                return 2;
        }
    }
    if (port <= 0 || n < 1 || n > 100000 || echoes < 0 || size < 1 || size > 125 || strcmp(addr, "127.0.0.1") != 0) {
        fprintf(stderr, "ws_hold: needs -p, 1 <= -n <= 100000, -s 1..125, and 127.0.0.1 only\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)n + 64 ? rl.rlim_max : (rlim_t)n + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    const double start = now_s(), deadline = start + limit;
    struct conn *c = calloc((size_t)n, sizeof *c);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, addr, &sa.sin_addr);
    char req[1024];
    int reqlen = snprintf(req, sizeof req,
                          "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                          path, addr, port);
    /* 1. open in batches of 256 */
    int opened = 0, failed = 0, next = 0, pending = 0;
    struct epoll_event evs[256];
    while ((opened + failed) < n && !deadline_fail(deadline)) {
        while (next < n && pending < 256) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                c[next++].state = 2;
                failed++;
                continue;
            }
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            c[next].fd = fd;
            if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
                close(fd);
                c[next++].state = 2;
                failed++;
                continue;
            }
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)next};
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            next++;
            pending++;
        }
        int k = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < k; i++) {
            struct conn *x = &c[evs[i].data.u32];
            if (x->state != 0) continue;
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
                x->state = 2;
                failed++;
                pending--;
                close(x->fd);
                continue;
            }
            if ((evs[i].events & EPOLLOUT) && x->got == 0) {
                if (send_all(x->fd, req, (size_t)reqlen, deadline) != 0) {
                    x->state = 2;
                    failed++;
                    pending--;
                    close(x->fd);
                    continue;
                }
                x->got = -1; /* sent */
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[i].data.u32};
                epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &ev);
                continue;
            }
            if (evs[i].events & EPOLLIN) {
                int have = x->got < 0 ? 0 : x->got;
                ssize_t r = recv(x->fd, x->head + have, sizeof x->head - 1 - (size_t)have, 0);
                if (r <= 0) {
                    x->state = 2;
                    failed++;
                    pending--;
                    close(x->fd);
                    continue;
                }
                have += (int)r;
                x->head[have] = 0;
                x->got = have;
                if (strstr(x->head, "\r\n\r\n") != NULL) {
                    pending--;
                    if (strncmp(x->head, "HTTP/1.1 101", 12) == 0) {
                        x->state = 1;
                        opened++;
                        struct epoll_event ev = {.events = EPOLLRDHUP, .data.u32 = evs[i].data.u32};
                        epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &ev);
                    } else {
                        x->state = 2;
                        failed++;
                        close(x->fd);
                    }
                }
            }
        }
    }
    const double connect_s = now_s() - start;
    /* 2. idle: anything reported now is a drop */
    int dropped = 0;
    double idle_until = now_s() + idle;
    while (now_s() < idle_until && !deadline_fail(deadline)) {
        int k = epoll_wait(ep, evs, 256, 200);
        for (int i = 0; i < k; i++) {
            struct conn *x = &c[evs[i].data.u32];
            if (x->state == 1) {
                x->state = 2;
                dropped++;
                epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
            }
        }
    }
    /* 3. echoes, one at a time, spread over the open connections */
    double *rtt = calloc((size_t)(echoes > 0 ? echoes : 1), sizeof *rtt);
    int done = 0, lost = 0;
    char frame[256], reply[256];
    for (int e = 0; e < echoes && !deadline_fail(deadline); e++) {
        int idx = (int)(((long long)e * n) / (echoes > 0 ? echoes : 1)) % n, tries = 0;
        while (c[idx].state != 1 && tries++ < n) idx = (idx + 1) % n;
        if (c[idx].state != 1) break;
        /* a masked text frame (RFC 6455 §5.2) */
        unsigned char mask[4] = {0x12, 0x34, 0x56, (unsigned char)e};
        frame[0] = (char)0x81;
        frame[1] = (char)(0x80 | size);
        memcpy(frame + 2, mask, 4);
        for (int i = 0; i < size; i++) frame[6 + i] = (char)(('a' + (e + i) % 26) ^ mask[i % 4]);
        int fd = c[idx].fd;
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        double t0 = now_s();
        if (send_all(fd, frame, (size_t)(6 + size), deadline) != 0) {
            lost++;
            continue;
        }
        int have = 0, want = 2 + size;
        while (have < want) {
            ssize_t r = recv(fd, reply + have, (size_t)(want - have), 0);
            if (r <= 0) break;
            have += (int)r;
        }
        double t1 = now_s();
        fcntl(fd, F_SETFL, fl);
        if (have == want && (unsigned char)reply[0] == 0x81 && reply[1] == size &&
            reply[2] == (char)('a' + e % 26)) {
            rtt[done++] = (t1 - t0) * 1e6;
        } else {
            lost++;
        }
    }
    qsort(rtt, (size_t)done, sizeof *rtt, cmp_double);
    double p50 = done ? rtt[done / 2] : 0, p99 = done ? rtt[(done * 99) / 100 < done ? (done * 99) / 100 : done - 1] : 0,
           mx = done ? rtt[done - 1] : 0;
    /* still open at the end? */
    int k = epoll_wait(ep, evs, 256, 0);
    for (int i = 0; i < k; i++)
        if (c[evs[i].data.u32].state == 1) dropped++;
    printf("opened=%d failed=%d dropped=%d echoes=%d lost=%d rtt_p50_us=%.0f rtt_p99_us=%.0f rtt_max_us=%.0f "
           "connect_s=%.2f\n",
           opened, failed, dropped, done, lost, p50, p99, mx, connect_s);
    for (int i = 0; i < n; i++)
        if ((c[i].state == 1 || c[i].state == 0) && c[i].fd > 0) close(c[i].fd);
    return (opened == n && dropped == 0 && done == echoes) ? 0 : 1;
}
