/*
 * bench peer: libfcgi's own threaded responder, the way libfcgi's
 * examples/threaded.c writes one: N threads, each with its own FCGX_Request,
 * looping on FCGX_Accept_r over one shared listening socket. A thread holds
 * a connection for as long as the front end keeps it open (FCGI_KEEP_CONN),
 * which is what the "thread per kept connection" rows measure.
 *
 *   libfcgi_hello -l ADDRESS -t THREADS -d DOCUMENT [-m]
 *
 * ADDRESS is libfcgi's bind path: "127.0.0.1:9000" (TCP) or an absolute
 * unix-socket path. Routes on REQUEST_URI (every front end in bench/ sends
 * it): /hello answers "Hello, world!\n" as text/plain; /doc reads DOCUMENT
 * from the file system on every request and answers it as text/html;
 * /f/big?bytes=N answers N bytes of 'x' (0..16 MiB) in 64 KiB writes, each
 * flushed, as Postern's faults example does at that path (the big100k and
 * big1m workloads); anything else is a 404.
 *
 * -m takes threaded.c's accept mutex ("Some platforms require accept()
 * serialization"). Linux does not, and under the mutex a thread blocks
 * reading its kept connection while holding it, serialising every thread,
 * so the bench rows run without it.
 *
 * Runs until killed (SIGTERM). Built by bench/run:
 *   gcc -O2 -pthread libfcgi_hello.c -lfcgi
 */
#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int listen_fd = -1;
static const char *doc_path = NULL;
static int use_accept_mutex = 0;
static pthread_mutex_t accept_mutex = PTHREAD_MUTEX_INITIALIZER;

static const char hello_body[] = "Hello, world!\n";

static void reply_hello(FCGX_Stream *out) {
    FCGX_FPrintF(out, "Content-Type: text/plain\r\nContent-Length: %u\r\n\r\n",
                 (unsigned)(sizeof hello_body - 1));
    FCGX_PutStr(hello_body, (int)(sizeof hello_body - 1), out);
}

static void reply_not_found(FCGX_Stream *out) {
    static const char body[] = "not found\n";
    FCGX_FPrintF(out, "Status: 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: %u\r\n\r\n",
                 (unsigned)(sizeof body - 1));
    FCGX_PutStr(body, (int)(sizeof body - 1), out);
}

/* The document is read from the file system on every request, as the 2009
 * servers did: open, fstat, read, close. */
static void reply_doc(FCGX_Stream *out) {
    char buf[64 * 1024];
    int fd = open(doc_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) close(fd);
        reply_not_found(out);
        return;
    }
    FCGX_FPrintF(out, "Content-Type: text/html\r\nContent-Length: %lld\r\n\r\n", (long long)st.st_size);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        FCGX_PutStr(buf, (int)n, out);
    }
    close(fd);
}

/* N bytes of 'x' in 64 KiB writes, each flushed: the faults example's /big */
static char big_piece[64 * 1024]; /* filled with 'x' in main() */

static void reply_big(FCGX_Stream *out, const char *uri) {
    const char *piece = big_piece;
    const char *q = strstr(uri, "bytes=");
    long long total = q ? atoll(q + 6) : 0;
    if (total < 0 || total > (16LL << 20)) {
        reply_not_found(out);
        return;
    }
    FCGX_FPrintF(out, "Content-Type: application/octet-stream\r\nContent-Length: %lld\r\n\r\n", total);
    for (long long left = total; left > 0;) {
        int n = left < (long long)sizeof big_piece ? (int)left : (int)sizeof big_piece;
        if (FCGX_PutStr(piece, n, out) != n || FCGX_FFlush(out) != 0) return;
        left -= n;
    }
}

static int starts_with_segment(const char *uri, const char *prefix) {
    size_t n = strlen(prefix);
    return strncmp(uri, prefix, n) == 0 && (uri[n] == '\0' || uri[n] == '?' || uri[n] == '/');
}

static void *worker(void *arg) {
    (void)arg;
    FCGX_Request req;
    if (FCGX_InitRequest(&req, listen_fd, 0) != 0) return NULL;
    for (;;) {
        int rc;
        if (use_accept_mutex) pthread_mutex_lock(&accept_mutex);
        rc = FCGX_Accept_r(&req);
        if (use_accept_mutex) pthread_mutex_unlock(&accept_mutex);
        if (rc < 0) break;
        const char *uri = FCGX_GetParam("REQUEST_URI", req.envp);
        if (uri == NULL) uri = "";
        if (starts_with_segment(uri, "/hello")) {
            reply_hello(req.out);
        } else if (starts_with_segment(uri, "/doc")) {
            reply_doc(req.out);
        } else if (starts_with_segment(uri, "/f/big")) {
            reply_big(req.out, uri);
        } else {
            reply_not_found(req.out);
        }
        FCGX_Finish_r(&req);
    }
    return NULL;
}

int main(int argc, char **argv) {
    const char *address = "127.0.0.1:9000";
    int threads = 8;
    int opt;
    while ((opt = getopt(argc, argv, "l:t:d:m")) != -1) {
        switch (opt) {
            case 'l': address = optarg; break;
            case 't': threads = atoi(optarg); break;
            case 'd': doc_path = optarg; break;
            case 'm': use_accept_mutex = 1; break;
            default:
                fprintf(stderr, "usage: %s -l ADDRESS -t THREADS -d DOCUMENT [-m]\n", argv[0]);
                return 2;
        }
    }
    if (doc_path == NULL || threads < 1 || threads > 4096) {
        fprintf(stderr, "usage: %s -l ADDRESS -t THREADS(1..4096) -d DOCUMENT [-m]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(big_piece, 'x', sizeof big_piece);
    if (FCGX_Init() != 0) {
        fprintf(stderr, "libfcgi_hello: FCGX_Init failed\n");
        return 1;
    }
    listen_fd = FCGX_OpenSocket(address, 1024);
    if (listen_fd < 0) {
        fprintf(stderr, "libfcgi_hello: cannot listen on %s\n", address);
        return 1;
    }
    if (address[0] == '/') chmod(address, 0666);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (int i = 1; i < threads; ++i) {
        pthread_t t;
        if (pthread_create(&t, &attr, worker, NULL) != 0) {
            fprintf(stderr, "libfcgi_hello: pthread_create failed at thread %d\n", i);
            return 1;
        }
    }
    fprintf(stderr, "libfcgi_hello: %d threads on %s\n", threads, address);
    worker(NULL);
    return 0;
}
