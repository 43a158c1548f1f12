/*
 * shared.c: see shared.h. The address seqlock follows Boehm's "Can seqlocks
 * get along with programming language memory models?" (2012): relaxed data
 * accesses, a release fence after making seq odd, an acquire fence before
 * reading seq the second time.
 */
#include "shared.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "process.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)	/* linux/fs.h; not in every libc's headers */
#endif

#define SHARED_SPINS 1000		/* tries before yielding the CPU to a preempted writer */
#define SHARED_GIVE_UP_MS 2000	/* seq odd this long: its writer died mid-store */

const char *const shared_refusal_names[SHARED_REFUSALS] = {
	"allow_from", "loop", "not_allowed", "no_name", "ambiguous", "not_tls_or_http", "timeout",
	"private_address", "self_address", "malformed", "policy", "bad_request",
	"port_not_allowed", "proxy_auth", "unreachable", "connect_timeout"
};
const char *const shared_drop_names[SHARED_DROPS] = { "queue_full", "upstream_down",
						       "session_lost" };

const char *shared_dir(void)
{
	const char *tmp = getenv("TMPDIR");
	struct stat info;

	/* tmpfs: no page of it is ever written back to a disk, or write-protected for it. */
	if (stat(SHARED_DIR, &info) == 0 && S_ISDIR(info.st_mode) &&
	    access(SHARED_DIR, W_OK | X_OK) == 0)
		return SHARED_DIR;
	return tmp && *tmp ? tmp : "/tmp";
}

/* What this process published: removed by shared_unpublish. */
static char shared_published_path[512];
/* Its fd, kept open for its lock: every process of the proxy inherits it. */
static int shared_lock_fd = -1;

const char *shared_published(void)
{
	return shared_published_path[0] ? shared_published_path : NULL;
}

/* FNV-1a, 64 bits, of a string and its end. */
static uint64_t shared_hash_text(uint64_t hash, const char *text)
{
	for (; text && *text; text++)
		hash = (hash ^ (uint8_t)*text) * 1099511628211ull;
	return (hash ^ 0xff) * 1099511628211ull;	/* no list of texts is a prefix of another */
}

uint64_t shared_conf_hash(int mode, const struct conf_port *entries, size_t nentries,
			  const char *targets)
{
	uint64_t hash = 14695981039346656037ull;

	hash = (hash ^ (uint8_t)mode) * 1099511628211ull;
	for (size_t i = 0; i < nentries; i++)	/* as written: "443", "8443:443", "20000-20100" */
		hash = shared_hash_text(hash, entries[i].text);
	hash = (hash ^ 0xfe) * 1099511628211ull;
	for (; targets && *targets; targets++)
		hash = (hash ^ (uint8_t)*targets) * 1099511628211ull;
	return hash;
}

uint64_t shared_pidns(void)
{
	struct stat info;

	return stat("/proc/self/ns/pid", &info) == 0 ? (uint64_t)info.st_ino : 0;
}

long shared_state_pid(const char *name)
{
	static const char prefix[] = "whitelist-", suffix[] = ".state";
	const char *random;
	size_t digits;
	long pid;

	if (strncmp(name, prefix, sizeof prefix - 1) != 0)
		return 0;
	name += sizeof prefix - 1;
	digits = strspn(name, "0123456789");
	if (digits == 0 || digits > 9 || name[digits] != '-')
		return 0;
	random = name + digits + 1;
	if (strspn(random, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") !=
		    SHARED_RANDOM || strcmp(random + SHARED_RANDOM, suffix) != 0)
		return 0;
	pid = strtol(name, NULL, 10);
	return pid > 0 ? pid : 0;
}

/*
 * 1 when the file at fd is a state of ours that no live proxy uses: owned by
 * owner, and nobody holds its lock (every proxy holds its own file's for
 * its life, whatever pid namespace it runs in). Then ours: it is removed
 * while locked, so no proxy can start using it meanwhile.
 */
static int shared_stale(int fd, uid_t owner)
{
	struct stat info;

	return fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && info.st_uid == owner &&
	       flock(fd, LOCK_EX | LOCK_NB) == 0;
}

/*
 * Removes the states that proxies of ours killed outright (SIGKILL, the OOM
 * killer) left in the directory: each has a name of its own, and a pod's
 * /dev/shm outlives its containers' restarts.
 */
static void shared_sweep(uid_t owner)
{
	struct dirent *entry;
	DIR *dir = opendir(shared_dir());

	if (!dir)
		return;
	while ((entry = readdir(dir))) {
		int fd;

		if (!shared_state_pid(entry->d_name))
			continue;
		fd = openat(dirfd(dir), entry->d_name,
			    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
		if (fd < 0)
			continue;
		if (shared_stale(fd, owner))
			unlinkat(dirfd(dir), entry->d_name, 0);
		close(fd);
	}
	closedir(dir);
}

/*
 * Renames from to `to` unless `to` exists (EEXIST): renameat2's
 * RENAME_NOREPLACE, or where a file system or seccomp profile lacks it, a
 * hard link, which never replaces either.
 */
static int shared_rename_new(const char *from, const char *to)
{
	if (syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if ((errno != EINVAL && errno != ENOSYS && errno != EPERM) || link(from, to) < 0)
		return -1;
	unlink(from);
	return 0;
}

/*
 * A new file of size bytes, whole or not at all, under a name nobody else can
 * have made or can take: made exclusively as "whitelist-PID-XXXXXX.partial"
 * (a random part, O_EXCL: no symlink or file of someone else is followed or
 * reused), every byte of it allocated now, then renamed to ".state" without
 * replacing anything. posix_fallocate, because a tmpfs allocates a sparse
 * file's pages on first write: when it is full, that write through the
 * mapping is a SIGBUS, here it is ENOSPC at start. Its fd, the final name
 * in path, or -1 with errno.
 */
static int shared_file(char *path, size_t path_size, size_t size)
{
	static const char partial_suffix[] = ".partial", final_suffix[] = ".state";
	char partial[sizeof shared_published_path];
	int fd, saved, len;

	len = snprintf(partial, sizeof partial, "%s/whitelist-%ld-XXXXXX%s", shared_dir(),
		       (long)getpid(), partial_suffix);
	if (len < 0 || (size_t)len >= sizeof partial || (size_t)len >= path_size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkostemps(partial, sizeof partial_suffix - 1, O_CLOEXEC)) < 0)
		return -1;
	flock(fd, LOCK_EX);	/* held for the proxy's life: it is not stale (shared_sweep) */
	memcpy(path, partial, (size_t)len - (sizeof partial_suffix - 1));
	strcpy(path + len - (sizeof partial_suffix - 1), final_suffix);
	if ((size == 0 || (errno = posix_fallocate(fd, 0, (off_t)size)) == 0) &&
	    fchmod(fd, 0644) == 0 &&
	    shared_rename_new(partial, path) == 0)
		return fd;
	saved = errno;
	unlink(partial);
	close(fd);
	errno = saved;
	return -1;
}

/*
 * No room for the state: an empty state file (an inode, no page) tells the
 * healthcheck so, rather than nothing at all. Its name in path, or "".
 */
static void shared_mark_no_room(char *path, size_t size)
{
	if ((shared_lock_fd = shared_file(path, size, 0)) < 0)
		path[0] = '\0';
}

/* The file-backed region, or MAP_FAILED with errno; the file's name in shared_published_path. */
static void *shared_map_file(size_t size, uid_t owner)
{
	char *path = shared_published_path;
	void *region = MAP_FAILED;
	uid_t before = (uid_t)setfsuid(owner);
	int fd, saved;

	shared_sweep(owner);
	if ((fd = shared_file(path, sizeof shared_published_path, size)) >= 0) {
		region = proc_map_low(size, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
		saved = errno;
		if (region == MAP_FAILED) {
			unlink(path);
			close(fd);
		} else {
			shared_lock_fd = fd;	/* open, and so locked, as long as we live */
		}
		errno = saved;
	}
	saved = errno;
	if (region == MAP_FAILED && (saved == ENOSPC || saved == EDQUOT))
		shared_mark_no_room(path, sizeof shared_published_path);
	else if (region == MAP_FAILED)
		path[0] = '\0';
	setfsuid(before);
	errno = saved;
	return region;
}

/* Bytes of the region for these entries: the header, the entries, their sockets. */
static size_t shared_size(size_t nentries, size_t nsockets)
{
	return sizeof(struct shared) + nentries * sizeof(struct shared_port) +
	       nsockets * sizeof(struct shared_socket);
}

/* Each entry's name, ports and share of the sockets table. */
static void shared_fill_entries(struct shared *shared, const struct conf_port *entries)
{
	struct shared_socket *sockets = shared_sockets(shared);
	uint32_t next = 0;

	for (uint32_t i = 0; i < shared->nports; i++) {
		struct shared_port *port = &shared->ports[i];

		port->port = entries[i].first;
		port->last = entries[i].last;
		memcpy(port->name, entries[i].text, sizeof port->name);
		port->first_socket = next;
		port->nsockets = (uint32_t)conf_port_sockets(&entries[i]);
		for (uint32_t j = 0; j < port->nsockets; j++, next++) {
			sockets[next].entry = i;
			atomic_init(&sockets[next].port, entries[i].first ? entries[i].first + j : 0);
		}
	}
}

/* The region, the file's or else anonymous memory; see shared_create_conf. */
static struct shared *shared_make(const struct conf_port *entries, size_t nentries, int mode,
				  const char *targets, uid_t owner, int *published)
{
	size_t nsockets = 0, size;
	struct shared *shared;
	struct proc_stat self;

	for (size_t i = 0; i < nentries; i++)
		nsockets += conf_port_sockets(&entries[i]);
	size = shared_size(nentries, nsockets);
	shared = shared_map_file(size, owner);

	*published = shared != MAP_FAILED;
	if (shared == MAP_FAILED) {
		int saved = errno;

		/* Committed now (MAP_POPULATE), as the file's pages are: no fault later. */
		shared = proc_map_low(size, PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1);
		if (shared == MAP_FAILED)
			return NULL;
		errno = saved;
	}
	/* Fresh pages are zero: every counter starts at 0, no address yet. */
	shared->version = SHARED_VERSION;
	shared->size = size;
	shared->main_pid = (int32_t)getpid();
	shared->main_starttime = proc_stat_read_self(&self) == 0 ? self.starttime : 0;
	shared->pidns = shared_pidns();
	shared->conf_hash = shared_conf_hash(mode, entries, nentries, targets);
	snprintf(shared->targets, sizeof shared->targets, "%s", targets ? targets : "");
	shared->mode = (uint32_t)mode;
	shared->nports = (uint32_t)nentries;
	shared->nsockets = (uint32_t)nsockets;
	shared_fill_entries(shared, entries);
	atomic_thread_fence(memory_order_release);
	shared->magic = SHARED_MAGIC;
	return shared;
}

struct shared *shared_create(const struct conf_port *entries, size_t nentries, int mode,
			     uid_t owner, int *published)
{
	return shared_make(entries, nentries, mode, NULL, owner, published);
}

struct shared *shared_create_conf(const struct conf *conf, uid_t owner, int *published)
{
	return shared_make(conf->entries, conf_listener_entries(conf),
			   conf->mode == CONF_MODE_TCP ? SOCK_STREAM : SOCK_DGRAM, conf->targets,
			   owner, published);
}

void shared_unpublish(const struct shared *shared)
{
	if (shared && shared_published_path[0])
		unlink(shared_published_path);
	if (shared_lock_fd >= 0)
		close(shared_lock_fd);
	shared_lock_fd = -1;
	shared_published_path[0] = '\0';
}

/* A region the healthcheck may read: complete, this version, the size it says. */
static int shared_valid(const struct shared *shared, size_t size)
{
	return size >= sizeof *shared && shared->magic == SHARED_MAGIC &&
	       shared->version == SHARED_VERSION && shared->size == size &&
	       shared->nports <= CONF_MAX_ENTRIES && shared->nsockets <= CONF_MAX_PORTS &&
	       shared_size(shared->nports, shared->nsockets) == size;
}

/*
 * What a state file must be before anything in it is believed: a regular
 * file (not a FIFO that would block, a device...), with one name, that only
 * its owner may write, and that owner one of owners (the caller knows whom
 * the proxy runs as).
 */
static int shared_file_sound(const struct stat *info, const uid_t *owners, size_t nowners)
{
	int trusted = 0;

	for (size_t i = 0; i < nowners; i++)
		trusted |= info->st_uid == owners[i];
	return trusted && S_ISREG(info->st_mode) && info->st_nlink == 1 && !(info->st_mode & 022);
}

const struct shared *shared_open(const char *path, const uid_t *owners, size_t nowners,
				 struct stat *info)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	void *region;

	memset(info, 0, sizeof *info);
	if (fd < 0)
		return NULL;
	/* Before mapping: a stranger could cut the file short under our reads (SIGBUS). */
	if (fstat(fd, info) < 0 || !shared_file_sound(info, owners, nowners)) {
		close(fd);
		errno = EPERM;
		return NULL;
	}
	if (info->st_size < (off_t)sizeof(struct shared)) {
		close(fd);
		errno = info->st_size == 0 ? ENODATA : EPROTO;
		return NULL;
	}
	region = mmap(NULL, (size_t)info->st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (region == MAP_FAILED)
		return NULL;
	if (!shared_valid(region, (size_t)info->st_size)) {
		munmap(region, (size_t)info->st_size);
		errno = EPROTO;
		return NULL;
	}
	return region;
}

void shared_close(const struct shared *shared)
{
	if (shared)
		munmap((void *)shared, shared->size);
}

struct shared_port *shared_port_of(struct shared *shared, uint16_t port)
{
	for (size_t i = 0; i < shared->nports; i++)
		if (shared->ports[i].port <= port && port <= shared->ports[i].last)
			return &shared->ports[i];
	return NULL;
}

void shared_addr_store(struct shared_addr *slot, const struct sockaddr *addr, int is_self)
{
	uint32_t words[4] = { 0 };
	uint32_t seq = atomic_load_explicit(&slot->seq, memory_order_relaxed);

	if (addr->sa_family == AF_INET)
		memcpy(words, &((const struct sockaddr_in *)addr)->sin_addr, 4);
	else
		memcpy(words, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
	atomic_store_explicit(&slot->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&slot->family, addr->sa_family, memory_order_relaxed);
	atomic_store_explicit(&slot->is_self, (uint32_t)is_self, memory_order_relaxed);
	for (int i = 0; i < 4; i++)
		atomic_store_explicit(&slot->words[i], words[i], memory_order_relaxed);
	atomic_store_explicit(&slot->seq, seq + 2, memory_order_release);
}

static void shared_addr_fill(struct sockaddr_storage *out, socklen_t *len, uint32_t family,
			     const uint32_t *words)
{
	memset(out, 0, sizeof *out);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, words, 4);
		*len = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, words, 16);
		*len = sizeof *sin6;
	}
}

int shared_addr_load(const struct shared_addr *slot, struct sockaddr_storage *out,
		     socklen_t *len, int *is_self)
{
	struct shared_addr *s = (struct shared_addr *)slot;	/* atomics are read, never written */
	uint32_t before, after, family, self, words[4];
	long long give_up = 0;
	long tries = 0;

	do {
		/*
		 * A store takes nanoseconds, unless its writer is preempted in the
		 * middle: after a few spins, yield to it; give up only when it must
		 * have died mid-store.
		 */
		if (++tries > SHARED_SPINS) {
			long long now = proc_now_ms();

			if (!give_up)
				give_up = now + SHARED_GIVE_UP_MS;
			else if (now >= give_up)
				return -1;
			sched_yield();
		}
		before = atomic_load_explicit(&s->seq, memory_order_acquire);
		family = atomic_load_explicit(&s->family, memory_order_relaxed);
		self = atomic_load_explicit(&s->is_self, memory_order_relaxed);
		for (int i = 0; i < 4; i++)
			words[i] = atomic_load_explicit(&s->words[i], memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		after = atomic_load_explicit(&s->seq, memory_order_relaxed);
	} while ((before & 1) || before != after);
	if (family != AF_INET && family != AF_INET6)
		return -1;
	shared_addr_fill(out, len, family, words);
	if (is_self)
		*is_self = (int)self;
	return 0;
}

uint32_t shared_addr_version(const struct shared_addr *slot)
{
	return atomic_load_explicit((_Atomic uint32_t *)&slot->seq, memory_order_acquire);
}

/* FNV-1a: a name's slot in the cache. */
static size_t shared_name_slot(const char *name)
{
	uint32_t hash = 2166136261u;

	for (; *name; name++)
		hash = (hash ^ (uint8_t)*name) * 16777619u;
	return hash % SHARED_NAMES;
}

/* name packed into words (zero-padded), as the cache compares it. */
static void shared_name_words(const char *name, uint64_t *words, size_t count)
{
	memset(words, 0, count * sizeof *words);
	memcpy(words, name, strnlen(name, count * sizeof *words - 1));
}

void shared_text_store(_Atomic uint64_t *words, size_t count, const char *text)
{
	uint64_t packed[64];

	if (count > 64)
		count = 64;
	shared_name_words(text, packed, count);
	for (size_t i = 0; i < count; i++)
		atomic_store_explicit(&words[i], packed[i], memory_order_relaxed);
}

void shared_text_load(const _Atomic uint64_t *words, size_t count, char *out, size_t size)
{
	uint64_t packed[64];

	if (count > 64)
		count = 64;
	for (size_t i = 0; i < count; i++)
		packed[i] = atomic_load_explicit((_Atomic uint64_t *)&words[i], memory_order_relaxed);
	snprintf(out, size, "%.*s", (int)strnlen((const char *)packed, count * 8), (const char *)packed);
}

int shared_name_load(const struct shared *shared, const char *name, long long now,
		     struct shared_addrs *out)
{
	struct shared_name *slot = (struct shared_name *)&shared->names[shared_name_slot(name)];
	enum { WORDS = sizeof slot->name / sizeof slot->name[0] };
	uint64_t want[WORDS];
	uint32_t before, after, addrs[SHARED_NAME_ADDRS][4];
	int match = 1;

	shared_name_words(name, want, WORDS);
	before = atomic_load_explicit(&slot->seq, memory_order_acquire);
	for (size_t i = 0; i < WORDS; i++)
		match &= atomic_load_explicit(&slot->name[i], memory_order_relaxed) == want[i];
	out->family = (int)atomic_load_explicit(&slot->family, memory_order_relaxed);
	out->count = atomic_load_explicit(&slot->count, memory_order_relaxed);
	match &= atomic_load_explicit(&slot->expires_ms, memory_order_relaxed) > now;
	for (size_t i = 0; i < SHARED_NAME_ADDRS; i++)
		for (size_t j = 0; j < 4; j++)
			addrs[i][j] = atomic_load_explicit(&slot->addrs[i][j], memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	after = atomic_load_explicit(&slot->seq, memory_order_relaxed);
	/* Being written, or written meanwhile, or someone else's: a miss, never a wait. */
	if ((before & 1) || before != after || !match || out->count == 0 ||
	    out->count > SHARED_NAME_ADDRS || (out->family != AF_INET && out->family != AF_INET6))
		return -1;
	for (size_t i = 0; i < out->count; i++)
		memcpy(out->addrs[i], addrs[i], 16);
	return 0;
}

void shared_name_store(struct shared *shared, const char *name, const struct shared_addrs *addrs,
		       long long expires_ms)
{
	struct shared_name *slot = &shared->names[shared_name_slot(name)];
	enum { WORDS = sizeof slot->name / sizeof slot->name[0] };
	uint32_t seq = atomic_load_explicit(&slot->seq, memory_order_relaxed), words[4];
	uint64_t packed[WORDS];

	/* Claimed by making seq odd: one writer at a time, across processes. */
	if ((seq & 1) || !atomic_compare_exchange_strong_explicit(&slot->seq, &seq, seq + 1,
								 memory_order_relaxed,
								 memory_order_relaxed))
		return;
	atomic_thread_fence(memory_order_release);
	shared_name_words(name, packed, WORDS);
	for (size_t i = 0; i < WORDS; i++)
		atomic_store_explicit(&slot->name[i], packed[i], memory_order_relaxed);
	atomic_store_explicit(&slot->family, (uint32_t)addrs->family, memory_order_relaxed);
	atomic_store_explicit(&slot->count, (uint32_t)addrs->count, memory_order_relaxed);
	atomic_store_explicit(&slot->expires_ms, expires_ms, memory_order_relaxed);
	for (size_t i = 0; i < addrs->count && i < SHARED_NAME_ADDRS; i++) {
		memcpy(words, addrs->addrs[i], 16);
		for (size_t j = 0; j < 4; j++)
			atomic_store_explicit(&slot->addrs[i][j], words[j], memory_order_relaxed);
	}
	atomic_store_explicit(&slot->seq, seq + 2, memory_order_release);
}

void shared_nets_store(struct shared_nets *slot, const struct guard_net *nets, size_t count)
{
	uint32_t seq = atomic_load_explicit(&slot->seq, memory_order_relaxed), words[4];

	if (count > SHARED_NETS)
		count = SHARED_NETS;
	atomic_store_explicit(&slot->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&slot->count, (uint32_t)count, memory_order_relaxed);
	for (size_t i = 0; i < count; i++) {
		memcpy(words, nets[i].prefix, sizeof words);
		atomic_store_explicit(&slot->kind[i], (uint32_t)nets[i].family << 8 | nets[i].bits,
				      memory_order_relaxed);
		for (int j = 0; j < 4; j++)
			atomic_store_explicit(&slot->words[i][j], words[j], memory_order_relaxed);
	}
	atomic_store_explicit(&slot->seq, seq + 2, memory_order_release);
}

size_t shared_nets_load(const struct shared_nets *slot, struct guard_net *out)
{
	struct shared_nets *s = (struct shared_nets *)slot;	/* atomics are read, never written */
	uint32_t before, after, count, kind, words[4];

	/*
	 * Main's store takes microseconds: spin, and yield when it is preempted.
	 * It cannot stop midway but by main's death, which ends the proxy.
	 */
	do {
		before = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (before & 1) {
			sched_yield();
			continue;
		}
		count = atomic_load_explicit(&s->count, memory_order_relaxed);
		count = count > SHARED_NETS ? SHARED_NETS : count;
		for (uint32_t i = 0; i < count; i++) {
			kind = atomic_load_explicit(&s->kind[i], memory_order_relaxed);
			for (int j = 0; j < 4; j++)
				words[j] = atomic_load_explicit(&s->words[i][j], memory_order_relaxed);
			out[i].family = (uint8_t)(kind >> 8);
			out[i].bits = (uint8_t)kind;
			memcpy(out[i].prefix, words, sizeof words);
		}
		atomic_thread_fence(memory_order_acquire);
		after = atomic_load_explicit(&s->seq, memory_order_relaxed);
	} while ((before & 1) || before != after);
	return count;
}

int shared_claim_log(_Atomic int64_t *last_ms, long long now, long long period_ms)
{
	int64_t last = atomic_load_explicit(last_ms, memory_order_relaxed);

	if (last != 0 && now - last < period_ms)
		return 0;
	/* Two processes may see the same old value: only one wins the exchange. */
	return atomic_compare_exchange_strong_explicit(last_ms, &last, now, memory_order_relaxed,
						       memory_order_relaxed);
}

void shared_loop_sentence(char *out, size_t size, const char *port, const char *target,
			  int pre_resolve, const char *address)
{
	unsigned char bytes[16];
	int literal = inet_pton(AF_INET, target, bytes) == 1 ||
		      inet_pton(AF_INET6, target, bytes) == 1;
	const char *advice =
		literal ? "an IP address of this proxy: TARGET must name another host"
		: pre_resolve ? "NAMESERVERS answered it with PRE_RESOLVE=1: point the name, or "
				"NAMESERVERS, elsewhere"
			      : "set PRE_RESOLVE=1 so that NAMESERVERS are asked";

	snprintf(out, size, "port %s: TARGET %s is this proxy itself (%s): %s", port, target,
		 address, advice);
}
