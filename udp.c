/* udp.c: MODE=udp (see issue 4). */
#include "log.h"
#include "proxy.h"

void udp_serve(const struct proxy *proxy, int listen_fd, uint16_t port)
{
	(void)proxy;
	(void)listen_fd;
	die("port %u: MODE=udp is not built yet", port);
}
