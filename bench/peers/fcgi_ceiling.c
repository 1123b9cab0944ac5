/*
 * bench peer: the ceiling of the FastCGI path. The cheapest responder that is
 * still correct FastCGI: one thread, one epoll loop, non-blocking sockets,
 * and every request answered with the same pre-built records (an FCGI_STDOUT
 * holding the headers and "Hello, world!\n", an empty FCGI_STDOUT, an
 * FCGI_END_REQUEST), only their request id patched in. It reads record
 * headers and nothing else it does not need: the flags of FCGI_BEGIN_REQUEST
 * (FCGI_KEEP_CONN) and the empty FCGI_STDIN that ends a request. Parameters
 * are skipped unread, so every path gets the hello answer.
 *
 *   fcgi_ceiling -l ADDRESS [-p PROCESSES]
 *
 * -p runs PROCESSES copies of the loop (default 1), forked after the socket
 * is bound, each with its own epoll set (EPOLLEXCLUSIVE on the shared
 * listening socket), as Postern runs one worker process per CPU; all of them
 * are in the process group bench/run stops.
 * ADDRESS is "HOST:PORT" (TCP) or an absolute unix-socket path, as for
 * libfcgi_hello. Per connection: one buffer in, one out, allocated when it is
 * accepted; nothing is allocated per request. Several requests arriving in
 * one read are answered in one write. Without FCGI_KEEP_CONN the connection
 * is closed once the answer is written; it is closed when the front end
 * closes. FCGI_ABORT_REQUEST gets an FCGI_END_REQUEST alone; FCGI_GET_VALUES
 * an empty FCGI_GET_VALUES_RESULT; other management records
 * FCGI_UNKNOWN_TYPE. Runs until killed (SIGTERM). Built by bench/run:
 *   gcc -O2 fcgi_ceiling.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

enum {
    FCGI_BEGIN_REQUEST = 1,
    FCGI_ABORT_REQUEST = 2,
    FCGI_END_REQUEST = 3,
    FCGI_PARAMS = 4,
    FCGI_STDIN = 5,
    FCGI_STDOUT = 6,
    FCGI_DATA = 8,
    FCGI_GET_VALUES = 9,
    FCGI_GET_VALUES_RESULT = 10,
    FCGI_UNKNOWN_TYPE = 11,
    FCGI_KEEP_CONN = 1,
};

#define IN_SIZE (16 * 1024)
#define OUT_SIZE (64 * 1024)
#define MAX_FDS 65536

/* the answer, built once at start-up: STDOUT(headers + body, padded to 8),
 * STDOUT(empty), END_REQUEST; request ids at the offsets in answer_ids */
static unsigned char answer[256];
static size_t answer_len;
static size_t answer_ids[3];
static const unsigned char end_only[16] = {
    1, FCGI_END_REQUEST, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

struct conn {
    int fd;
    int keep_conn;        /* of the request in progress */
    int closing;          /* close once out is written */
    int want_out;         /* registered for EPOLLOUT */
    unsigned char hdr[8]; /* the record header being read */
    size_t hdr_have;
    size_t content_left, padding_left, content_seen;
    unsigned char begin_body[8];
    size_t in_start, in_end, out_start, out_end;
    unsigned char in[IN_SIZE];
    unsigned char out[OUT_SIZE];
};

static struct conn** conns;
static int ep;

static void put_header(unsigned char* p, int type, unsigned id, unsigned clen, unsigned plen) {
    p[0] = 1;
    p[1] = (unsigned char)type;
    p[2] = (unsigned char)(id >> 8);
    p[3] = (unsigned char)id;
    p[4] = (unsigned char)(clen >> 8);
    p[5] = (unsigned char)clen;
    p[6] = (unsigned char)plen;
    p[7] = 0;
}

static void build_answer(void) {
    static const char text[] =
        "Content-Type: text/plain\r\nContent-Length: 14\r\n\r\nHello, world!\n";
    unsigned clen = sizeof text - 1, plen = (8 - clen % 8) % 8;
    size_t n = 0;
    answer_ids[0] = n + 2;
    put_header(answer + n, FCGI_STDOUT, 0, clen, plen);
    n += 8;
    memcpy(answer + n, text, clen);
    n += clen;
    memset(answer + n, 0, plen);
    n += plen;
    answer_ids[1] = n + 2;
    put_header(answer + n, FCGI_STDOUT, 0, 0, 0);
    n += 8;
    answer_ids[2] = n + 2;
    put_header(answer + n, FCGI_END_REQUEST, 0, 8, 0);
    n += 8;
    memset(answer + n, 0, 8); /* appStatus 0, FCGI_REQUEST_COMPLETE */
    n += 8;
    answer_len = n;
}

static void close_conn(struct conn* c) {
    close(c->fd); /* also removes it from the epoll set */
    conns[c->fd] = NULL;
    free(c);
}

static void set_events(struct conn* c, int out) {
    if (c->want_out == out)
        return;
    struct epoll_event ev = {.events = out ? EPOLLOUT : EPOLLIN, .data.fd = c->fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

/* room for the largest thing one record can make us write */
static int out_has_room(struct conn* c) {
    return OUT_SIZE - c->out_end >= sizeof answer;
}

static void emit(struct conn* c, const unsigned char* p, size_t n) {
    memcpy(c->out + c->out_end, p, n);
    c->out_end += n;
}

static void patch_id(unsigned char* p, unsigned id) {
    p[0] = (unsigned char)(id >> 8);
    p[1] = (unsigned char)id;
}

/* a whole record header has been read, or a record's content has ended */
static void record_done(struct conn* c) {
    unsigned type = c->hdr[1], id = (unsigned)c->hdr[2] << 8 | c->hdr[3];
    unsigned clen = (unsigned)c->hdr[4] << 8 | c->hdr[5];
    if (id == 0) {
        unsigned char* p = c->out + c->out_end;
        if (type == FCGI_GET_VALUES) {
            put_header(p, FCGI_GET_VALUES_RESULT, 0, 0, 0);
            c->out_end += 8;
        } else {
            put_header(p, FCGI_UNKNOWN_TYPE, 0, 8, 0);
            memset(p + 8, 0, 8);
            p[8] = (unsigned char)type;
            c->out_end += 16;
        }
        return;
    }
    switch (type) {
        case FCGI_BEGIN_REQUEST:
            c->keep_conn = c->content_seen >= 3 && (c->begin_body[2] & FCGI_KEEP_CONN);
            break;
        case FCGI_STDIN:
            if (clen == 0) {
                unsigned char* p = c->out + c->out_end;
                emit(c, answer, answer_len);
                for (int i = 0; i < 3; ++i)
                    patch_id(p + answer_ids[i], id);
                if (!c->keep_conn)
                    c->closing = 1;
            }
            break;
        case FCGI_ABORT_REQUEST: {
            unsigned char* p = c->out + c->out_end;
            emit(c, end_only, sizeof end_only);
            patch_id(p + 2, id);
            if (!c->keep_conn)
                c->closing = 1;
            break;
        }
        default: /* FCGI_PARAMS, FCGI_DATA, anything else: skipped */
            break;
    }
}

/* parses what is buffered while there is room to answer */
static void parse(struct conn* c) {
    while (c->in_start < c->in_end && out_has_room(c) && !c->closing) {
        unsigned char* p = c->in + c->in_start;
        size_t avail = c->in_end - c->in_start;
        if (c->hdr_have < 8) {
            size_t n = 8 - c->hdr_have < avail ? 8 - c->hdr_have : avail;
            memcpy(c->hdr + c->hdr_have, p, n);
            c->hdr_have += n;
            c->in_start += n;
            if (c->hdr_have < 8)
                break;
            c->content_left = (size_t)c->hdr[4] << 8 | c->hdr[5];
            c->padding_left = c->hdr[6];
            c->content_seen = 0;
            if (c->content_left == 0)
                record_done(c);
        } else if (c->content_left > 0) {
            size_t n = c->content_left < avail ? c->content_left : avail;
            if (c->hdr[1] == FCGI_BEGIN_REQUEST)
                for (size_t i = 0; i < n && c->content_seen + i < 8; ++i)
                    c->begin_body[c->content_seen + i] = p[i];
            c->content_seen += n;
            c->content_left -= n;
            c->in_start += n;
            if (c->content_left == 0)
                record_done(c);
        } else {
            size_t n = c->padding_left < avail ? c->padding_left : avail;
            c->padding_left -= n;
            c->in_start += n;
        }
        if (c->hdr_have == 8 && c->content_left == 0 && c->padding_left == 0)
            c->hdr_have = 0;
    }
    if (c->in_start == c->in_end)
        c->in_start = c->in_end = 0;
}

/* writes what is pending; returns -1 when the connection is gone */
static int flush_out(struct conn* c) {
    while (c->out_start < c->out_end) {
        ssize_t n = send(c->fd, c->out + c->out_start, c->out_end - c->out_start, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        c->out_start += (size_t)n;
    }
    c->out_start = c->out_end = 0;
    return 0;
}

/* reads, answers, writes until the socket has nothing more or must wait */
static void serve(struct conn* c) {
    for (;;) {
        parse(c);
        if (flush_out(c) < 0) {
            close_conn(c);
            return;
        }
        if (c->out_end != 0) { /* the peer is slow to read: wait for room */
            set_events(c, 1);
            return;
        }
        if (c->closing) {
            close_conn(c);
            return;
        }
        if (c->in_start < c->in_end)
            continue; /* out was full: parse on */
        ssize_t n = recv(c->fd, c->in + c->in_end, IN_SIZE - c->in_end, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(c, 0);
            return;
        }
        if (n <= 0) { /* the front end closed, or the connection broke */
            close_conn(c);
            return;
        }
        c->in_end += (size_t)n;
    }
}

static int listen_on(const char* address) {
    int fd;
    if (address[0] == '/') {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(address) >= sizeof sa.sun_path)
            return -1;
        strcpy(sa.sun_path, address);
        unlink(address);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr*)&sa, sizeof sa) != 0)
            return -1;
        chmod(address, 0666);
    } else {
        char host[256];
        const char* colon = strrchr(address, ':');
        if (colon == NULL || (size_t)(colon - address) >= sizeof host)
            return -1;
        memcpy(host, address, (size_t)(colon - address));
        host[colon - address] = '\0';
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((unsigned short)atoi(colon + 1))};
        if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &sa.sin_addr) != 1)
            return -1;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd < 0)
            return -1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr*)&sa, sizeof sa) != 0)
            return -1;
    }
    if (listen(fd, 1024) != 0)
        return -1;
    return fd;
}

int main(int argc, char** argv) {
    const char* address = NULL;
    int opt;
    int processes = 1;
    while ((opt = getopt(argc, argv, "l:p:")) != -1) {
        if (opt == 'l') {
            address = optarg;
        } else if (opt == 'p') {
            processes = atoi(optarg);
        } else {
            fprintf(stderr, "usage: %s -l ADDRESS [-p PROCESSES]\n", argv[0]);
            return 2;
        }
    }
    if (address == NULL || processes < 1 || processes > 256) {
        fprintf(stderr, "usage: %s -l ADDRESS [-p PROCESSES(1..256)]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    build_answer();
    conns = calloc(MAX_FDS, sizeof *conns);
    int lfd = listen_on(address);
    if (conns == NULL || lfd < 0) {
        fprintf(stderr, "fcgi_ceiling: cannot listen on %s: %s\n", address, strerror(errno));
        return 1;
    }
    for (int i = 1; i < processes; ++i) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fcgi_ceiling: fork");
            return 1;
        }
        if (pid == 0)
            break;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = lfd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0) {
        perror("fcgi_ceiling: epoll");
        return 1;
    }
    fprintf(stderr, "fcgi_ceiling: one thread on %s (pid %d of %d processes)\n", address,
            (int)getpid(), processes);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("fcgi_ceiling: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; ++i) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (cfd < 0)
                        break; /* EAGAIN, or out of descriptors: try on the next event */
                    struct conn* c = cfd < MAX_FDS ? malloc(sizeof *c) : NULL;
                    if (c == NULL) {
                        close(cfd);
                        continue;
                    }
                    memset(c, 0, offsetof(struct conn, in));
                    c->fd = cfd;
                    int one = 1;
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one,
                               sizeof one); /* fails harmlessly on unix */
                    struct epoll_event ev = {.events = EPOLLIN, .data.fd = cfd};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev) != 0) {
                        close(cfd);
                        free(c);
                        continue;
                    }
                    conns[cfd] = c;
                }
            } else if (conns[fd] != NULL) {
                serve(conns[fd]);
            }
        }
    }
}
