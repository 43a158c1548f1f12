/*
 * policy.c: see policy.h. The rule parser (once, in main, before any
 * fork) and the matcher (once per connection, in a listener or a relay).
 * Pure: host names' addresses come through a policy_names view.
 */
#include "policy.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define POLICY_RULES_SEPARATORS "\n;"
#define POLICY_WORD_SEPARATORS " \t\r"
#define POLICY_USER_PREFIX "user:"
#define POLICY_TEXT_MAX 8192

/* The index of name in names (lower case), added when new; -1 when the table is full. */
static int policy_name_index(struct policy *policy, const char *name)
{
	char lower[POLICY_NAME_SIZE];
	size_t len = strlen(name);

	if (len > 1 && name[len - 1] == '.')
		len--;	/* "app." and "app" are the same name */
	for (size_t i = 0; i < len && i < sizeof lower - 1; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	lower[len < sizeof lower ? len : sizeof lower - 1] = '\0';
	for (size_t i = 0; i < policy->nnames; i++)
		if (strcmp(policy->names[i], lower) == 0)
			return (int)i;
	if (policy->nnames == POLICY_MAX_NAMES)
		return -1;
	strcpy(policy->names[policy->nnames], lower);
	return (int)policy->nnames++;
}

/* A user:NAME's NAME: what PROXY_USERS can hold before its ':' (printable, no blank). */
static int policy_user_ok(const char *name)
{
	if (!*name || strlen(name) >= POLICY_NAME_SIZE)
		return 0;
	for (const char *at = name; *at; at++)
		if (*at == ':' || !isgraph((unsigned char)*at))
			return 0;
	return 1;
}

/* Reads one client word into out; -1 with err when it is none of the four kinds. */
static int policy_parse_client(struct policy *policy, const char *word,
			       struct policy_client *out, char *err, size_t size)
{
	size_t prefix = sizeof POLICY_USER_PREFIX - 1;
	int status, name;

	memset(out, 0, sizeof *out);
	snprintf(out->text, sizeof out->text, "%s", word);
	if (strncmp(word, POLICY_USER_PREFIX, prefix) == 0) {
		/* A user name as PROXY_USERS writes it: no ':' (it ends the name), no blank. */
		if (!policy_user_ok(word + prefix))
			return conf_fail(err, size, "POLICY: \"%s\" is not user:NAME with a user name "
					 "of PROXY_USERS", word);
		out->kind = POLICY_CLIENT_USER;
		return 0;
	}
	status = conf_parse_net(word, &out->net);
	if (status == CONF_NET_OK)
		return 0;	/* POLICY_CLIENT_NET */
	if (status == CONF_NET_BAD_PREFIX)
		return conf_fail(err, size, "POLICY: client \"%s\" has a bad prefix length (0-%u)",
				 word, strchr(word, ':') ? 128 : 32);
	/* A name must be one the resolver would look up as written, not read as a number. */
	if (!conf_is_host_name(word) || strlen(word) >= POLICY_NAME_SIZE)
		return conf_fail(err, size, "POLICY: client \"%s\" is not a host name, an IP "
				 "address, a CIDR or user:NAME", word);
	if ((name = policy_name_index(policy, word)) < 0)
		return conf_fail(err, size, "POLICY: more than %d host names (with ALLOW_FROM's)",
				 POLICY_MAX_NAMES);
	out->kind = POLICY_CLIENT_NAME;
	out->name = (unsigned)name;
	snprintf(out->text, sizeof out->text, "%s", policy->names[name]);
	return 0;
}

/* The index of the client written as word, added when new; -1 with err. */
static int policy_client_index(struct policy *policy, const char *word, char *err, size_t size)
{
	struct policy_client client;

	if (policy_parse_client(policy, word, &client, err, size) < 0)
		return -1;
	for (size_t i = 0; i < policy->nclients; i++)
		if (strcmp(policy->clients[i].text, client.text) == 0)
			return (int)i;
	if (policy->nclients == POLICY_MAX_CLIENTS)
		return conf_fail(err, size, "POLICY: more than %d different clients",
				 POLICY_MAX_CLIENTS);
	policy->clients[policy->nclients] = client;
	return (int)policy->nclients++;
}

static int policy_grant(struct policy *policy, int client, int entry, char *err, size_t size)
{
	for (size_t i = 0; i < policy->ngrants; i++)
		if (policy->grants[i].client == client && policy->grants[i].entry == entry)
			return 0;
	if (policy->ngrants == POLICY_MAX_GRANTS)
		return conf_fail(err, size, "POLICY: more than %d client-entry pairs",
				 POLICY_MAX_GRANTS);
	policy->grants[policy->ngrants++] = (struct policy_grant){ (uint8_t)client, (uint8_t)entry };
	policy->named |= UINT32_C(1) << entry;
	return 0;
}

/* The words of one side into words[]; their count (0: the side is empty). */
static size_t policy_words(char *side, char **words, size_t max)
{
	char *save = NULL;
	size_t count = 0;

	for (char *word = strtok_r(side, POLICY_WORD_SEPARATORS, &save); word && count < max;
	     word = strtok_r(NULL, POLICY_WORD_SEPARATORS, &save))
		words[count++] = word;
	return count;
}

/* One rule "CLIENTS = ENTRIES" (blank: nothing), written in place. */
static int policy_parse_rule(struct policy *policy, char *rule, const struct conf *conf,
			     char *err, size_t size)
{
	char *equals = strchr(rule, '='), *clients[POLICY_MAX_CLIENTS + 1];
	char *entries[CONF_MAX_ROUTES + 1], shown[80];
	size_t nclients, nentries;

	if (!rule[strspn(rule, POLICY_WORD_SEPARATORS)])
		return 0;
	snprintf(shown, sizeof shown, "%s", rule + strspn(rule, POLICY_WORD_SEPARATORS));
	if (!equals || strchr(equals + 1, '='))
		return conf_fail(err, size, "POLICY: rule \"%s\" is not CLIENTS = ENTRIES", shown);
	*equals = '\0';
	nclients = policy_words(rule, clients, POLICY_MAX_CLIENTS + 1);
	nentries = policy_words(equals + 1, entries, CONF_MAX_ROUTES + 1);
	if (nclients == 0 || nentries == 0)
		return conf_fail(err, size, "POLICY: rule \"%s\" has no %s", shown,
				 nclients == 0 ? "clients before '='" : "TARGET entries after '='");
	if (nclients > POLICY_MAX_CLIENTS || nentries > CONF_MAX_ROUTES)
		return conf_fail(err, size, "POLICY: rule \"%s\" lists too many words", shown);
	for (size_t i = 0; i < nentries; i++) {
		int entry = conf_entry_index(conf, entries[i]);

		if (entry < 0)
			return conf_fail(err, size, "POLICY: \"%s\" is not an entry of TARGET (%s)",
					 entries[i], conf->targets);
		for (size_t j = 0; j < nclients; j++) {
			int client = policy_client_index(policy, clients[j], err, size);

			if (client < 0 || policy_grant(policy, client, entry, err, size) < 0)
				return -1;
		}
	}
	return 0;
}

/* ALLOW_FROM's host names join names[] (its IPs and CIDRs stay conf_allow_match's). */
static int policy_gather_allow_from(struct policy *policy, const struct conf *conf, char *err,
				    size_t size)
{
	char copy[POLICY_TEXT_MAX], *words[CONF_MAX_ALLOW];
	size_t count;

	if (!conf->allow.text || !conf->allow.has_names)
		return 0;
	if (strlen(conf->allow.text) >= sizeof copy)
		return conf_fail(err, size, "ALLOW_FROM: the list is too long");
	strcpy(copy, conf->allow.text);
	count = policy_words(copy, words, CONF_MAX_ALLOW);
	for (size_t i = 0; i < count; i++) {
		struct conf_net net;
		int name;

		if (conf_parse_net(words[i], &net) != CONF_NET_NOT_IP)
			continue;	/* conf_load checked and stored it */
		if ((name = policy_name_index(policy, words[i])) < 0)
			return conf_fail(err, size, "ALLOW_FROM: more than %d host names (with "
					 "POLICY's)", POLICY_MAX_NAMES);
		policy->allow_names |= UINT32_C(1) << name;
	}
	return 0;
}

int policy_parse(struct policy *policy, const char *text, const struct conf *conf, char *err,
		 size_t size)
{
	char copy[POLICY_TEXT_MAX], *save = NULL;

	memset(policy, 0, sizeof *policy);
	if (policy_gather_allow_from(policy, conf, err, size) < 0)
		return -1;
	if (!text || !text[strspn(text, POLICY_WORD_SEPARATORS "\n;")])
		return 0;	/* empty or blank: every allowed client reaches every entry */
	if (strlen(text) >= sizeof copy)
		return conf_fail(err, size, "POLICY: the text is too long");
	strcpy(copy, text);
	policy->text = text;
	for (char *rule = strtok_r(copy, POLICY_RULES_SEPARATORS, &save); rule;
	     rule = strtok_r(NULL, POLICY_RULES_SEPARATORS, &save))
		if (policy_parse_rule(policy, rule, conf, err, size) < 0)
			return -1;
	return 0;
}

/* 1 when the first prefix bits of net and addr are equal. */
static int policy_prefix_equal(const uint8_t *net, const uint8_t *addr, unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;

	if (memcmp(net, addr, whole) != 0)
		return 0;
	return rest == 0 || ((net[whole] ^ addr[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* 1 when the connection comes from this client of the policy. */
static int policy_is_client(const struct policy_client *rule, const struct policy_names *names,
			    const struct conf_net *client, const char *user)
{
	switch (rule->kind) {
	case POLICY_CLIENT_NET:
		return client && rule->net.family == client->family &&
		       policy_prefix_equal(rule->net.addr, client->addr, rule->net.prefix);
	case POLICY_CLIENT_NAME:
		return client && names && names->has(names->ctx, rule->name, client);
	default:	/* POLICY_CLIENT_USER */
		return user && strcmp(user, rule->text + sizeof POLICY_USER_PREFIX - 1) == 0;
	}
}

/* 127.0.0.0/8 and ::1: the proxy's own container (its healthcheck), as ALLOW_FROM lets in. */
static int policy_is_loopback(const struct conf_net *client)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };

	return client && ((client->family == AF_INET && client->addr[0] == 127) ||
			  (client->family == AF_INET6 && memcmp(client->addr, v6_loopback, 16) == 0));
}

int policy_allows(const struct policy *policy, const struct policy_names *names,
		  const struct conf_net *client, const char *user, int entry)
{
	if (!policy || entry < 0 || entry >= CONF_MAX_ROUTES ||
	    !(policy->named & (UINT32_C(1) << entry)) || policy_is_loopback(client))
		return POLICY_OPEN;
	for (size_t i = 0; i < policy->ngrants; i++)
		if (policy->grants[i].entry == entry &&
		    policy_is_client(&policy->clients[policy->grants[i].client], names, client,
				     user))
			return (int)i;
	return POLICY_REFUSED;
}

int policy_client_of(const struct policy *policy, const struct policy_names *names,
		     const struct conf_net *client, const char *user)
{
	for (size_t i = 0; policy && i < policy->nclients; i++)
		if (policy_is_client(&policy->clients[i], names, client, user))
			return (int)i;
	return -1;
}

int policy_allow_from_names(const struct policy *policy, const struct policy_names *names,
			    const struct conf_net *client)
{
	for (size_t i = 0; policy && names && i < policy->nnames; i++)
		if ((policy->allow_names & (UINT32_C(1) << i)) &&
		    names->has(names->ctx, (unsigned)i, client))
			return 1;
	return 0;
}

int policy_check_users(const struct policy *policy, const char *const *users, size_t nusers,
		       char *err, size_t size)
{
	for (size_t i = 0; i < policy->nclients; i++) {
		const char *name = policy->clients[i].text + sizeof POLICY_USER_PREFIX - 1;
		size_t j = 0;

		if (policy->clients[i].kind != POLICY_CLIENT_USER)
			continue;
		while (j < nusers && strcmp(users[j], name) != 0)
			j++;
		if (j == nusers)
			return conf_fail(err, size, "POLICY: \"%s\": no such user in PROXY_USERS",
					 policy->clients[i].text);
	}
	return 0;
}
