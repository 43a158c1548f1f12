/*
 * config_allow.c: ALLOW_FROM's networks, and the match of a client against
 * them (once per accept or new UDP client). Reading the variable, and
 * resolving its host names at start, is config.c's; this part calls nobody.
 */
#include "config.h"

#include "addr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t conf_v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Clears the bits past prefix, so matching compares whole bytes as they are. */
static void conf_net_mask(struct conf_net *net)
{
	size_t len = net->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < len; i++) {
		unsigned first_bit = (unsigned)i * 8;

		if (net->prefix <= first_bit)
			net->addr[i] = 0;
		else if (net->prefix < first_bit + 8)
			net->addr[i] &= (uint8_t)(0xff << (first_bit + 8 - net->prefix));
	}
}

/* The prefix after '/', 0 to max: digits only ("08" is fine); -1 on anything else. */
static int conf_parse_prefix(const char *text, unsigned max)
{
	size_t len = strspn(text, "0123456789");
	unsigned long value;

	if (len == 0 || len > 3 || text[len] != '\0')
		return -1;
	value = strtoul(text, NULL, 10);
	return value <= max ? (int)value : -1;
}

int conf_parse_net(const char *text, struct conf_net *out)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t len = slash ? (size_t)(slash - text) : strlen(text);
	int prefix;

	if (len == 0 || len >= sizeof addr)
		return CONF_NET_NOT_IP;
	memcpy(addr, text, len);
	addr[len] = '\0';
	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, addr, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, out->addr) == 1)
		out->family = AF_INET6;
	else
		return CONF_NET_NOT_IP;
	out->prefix = out->family == AF_INET ? 32 : 128;
	if (slash && (prefix = conf_parse_prefix(slash + 1, out->prefix)) < 0)
		return CONF_NET_BAD_PREFIX;
	if (slash)
		out->prefix = (unsigned)prefix;
	/* Clients arrive unmapped (conf_allow_match), so a mapped network must be v4 too. */
	if (out->family == AF_INET6 && out->prefix >= 96 &&
	    memcmp(out->addr, conf_v4_mapped, sizeof conf_v4_mapped) == 0) {
		memmove(out->addr, out->addr + 12, 4);
		memset(out->addr + 4, 0, 12);
		out->family = AF_INET;
		out->prefix -= 96;
	}
	conf_net_mask(out);
	return CONF_NET_OK;
}

/* 1 when the first prefix bits of net and addr are equal. */
static int conf_prefix_equal(const uint8_t *net, const uint8_t *addr, unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;

	if (memcmp(net, addr, whole) != 0)
		return 0;
	return rest == 0 || ((net[whole] ^ addr[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

int conf_allow_match_net(const struct conf_allow *allow, const struct conf_net *client)
{
	for (size_t i = 0; i < allow->count; i++) {
		const struct conf_net *net = &allow->nets[i];

		if (net->family == client->family &&
		    conf_prefix_equal(net->addr, client->addr, net->prefix))
			return 1;
	}
	return 0;
}

static int conf_is_loopback(int family, const uint8_t *addr)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };

	return family == AF_INET ? addr[0] == 127 : memcmp(addr, v6_loopback, 16) == 0;
}

int conf_allow_match(const struct conf_allow *allow, const struct sockaddr *addr)
{
	struct conf_net client = { 0 };

	if (!allow->text)
		return 1;
	/* A v4 client of the dual-stack socket (::ffff:a.b.c.d) is matched as the v4 it is. */
	client.family = addr_host_bytes(addr, client.addr);
	if (!client.family)
		return 0;
	if (conf_is_loopback(client.family, client.addr))
		return 1;
	return conf_allow_match_net(allow, &client);
}
