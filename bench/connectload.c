/*
 * bench/connectload.c: TLS connections per second through an explicit
 * proxy (HTTP CONNECT), or straight to a routing proxy, for make bench.
 *
 * wrk speaks no proxy protocol, so this is the client of the CONNECT
 * workload: WORKERS processes, each in a loop until the time is up:
 * connect; with a proxy, "CONNECT name:443" and wait for its 200 (as curl
 * does); a full TLS handshake (a new session every time: no resumption)
 * with the name as SNI; "GET /hello" with Connection: close; read to the
 * end; close. The names alternate. Certificates are not verified: the cost
 * is the same for every proxy, and the proxies are what is measured.
 *
 * Usage: connectload HOST PORT SECONDS WORKERS CONNECT|DIRECT NAME...
 * Prints "connections N errors E rate R" (R per second).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(const char *host, int port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval timeout = { 5, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	inet_pton(AF_INET, host, &addr.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The proxy's answer to CONNECT, read to its empty line: 0 when it is a 200. */
static int tunnel(int fd, const char *name)
{
	char buf[1024];
	size_t have = 0;
	int len = snprintf(buf, sizeof buf, "CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n",
			   name, name);

	if (write(fd, buf, (size_t)len) != len)
		return -1;
	while (have < sizeof buf - 1) {
		ssize_t got = read(fd, buf + have, 1);	/* byte by byte: nothing past the head */

		if (got <= 0)
			return -1;
		have += (size_t)got;
		buf[have] = '\0';
		if (have >= 4 && memcmp(buf + have - 4, "\r\n\r\n", 4) == 0)
			return strncmp(buf, "HTTP/1.1 200", 12) == 0 || strncmp(buf, "HTTP/1.0 200", 12) == 0
			       ? 0 : -1;
	}
	return -1;
}

/* One whole connection: 0 when the answer came. */
static int one(SSL_CTX *ctx, const char *host, int port, int through_proxy, const char *name)
{
	char request[256], buf[4096];
	int fd = dial(host, port), ok = -1, len, total = 0, got;
	SSL *ssl;

	if (fd < 0)
		return -1;
	if (through_proxy && tunnel(fd, name) < 0) {
		close(fd);
		return -1;
	}
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, name);
	if (SSL_connect(ssl) == 1) {
		len = snprintf(request, sizeof request, "GET /hello HTTP/1.1\r\nHost: %s\r\n"
			       "Connection: close\r\n\r\n", name);
		if (SSL_write(ssl, request, len) == len) {
			while ((got = SSL_read(ssl, buf, sizeof buf)) > 0)
				total += got;
			ok = total > 0 ? 0 : -1;
		}
	}
	SSL_free(ssl);
	close(fd);
	return ok;
}

static void worker(int out, const char *host, int port, double seconds, int through_proxy,
		   char **names, int nnames, int index)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	double deadline = now_s() + seconds;
	long counts[2] = { 0, 0 };

	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	for (long i = index; now_s() < deadline; i++)
		counts[one(ctx, host, port, through_proxy, names[i % nnames]) < 0]++;
	if (write(out, counts, sizeof counts) != sizeof counts)
		_exit(1);
	_exit(0);
}

int main(int argc, char **argv)
{
	int pipefd[2], workers, port;
	double seconds, started;
	long total[2] = { 0, 0 }, counts[2];

	if (argc < 7) {
		fprintf(stderr, "usage: connectload HOST PORT SECONDS WORKERS CONNECT|DIRECT NAME...\n");
		return 2;
	}
	port = atoi(argv[2]);
	seconds = atof(argv[3]);
	workers = atoi(argv[4]);
	signal(SIGPIPE, SIG_IGN);
	if (pipe(pipefd) < 0)
		return 1;
	started = now_s();
	for (int i = 0; i < workers; i++)
		if (fork() == 0)
			worker(pipefd[1], argv[1], port, seconds, strcmp(argv[5], "CONNECT") == 0,
			       argv + 6, argc - 6, i);
	close(pipefd[1]);
	while (read(pipefd[0], counts, sizeof counts) == sizeof counts) {
		total[0] += counts[0];
		total[1] += counts[1];
	}
	while (wait(NULL) > 0)
		;
	printf("connections %ld errors %ld rate %.1f\n", total[0], total[1],
	       (double)total[0] / (now_s() - started));
	return 0;
}
