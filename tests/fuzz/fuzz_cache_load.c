/*
 * libFuzzer target for the cache loader (cache/dump.c): any bytes go to cn_cache_load_buf;
 * whatever it keeps must then be walkable, within the budget, and survive a dump -> load
 * round trip unchanged in count. Seeds: tests/fuzz/corpus/fuzz_cache_load/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cache/cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk_cb(void *ctx, const uint8_t *name, size_t name_len, uint16_t type,
		    uint16_t rclass, const cn_cache_entry_t *entry, const uint8_t *value)
{
	size_t *sum = ctx;
	/* touch every byte so ASan sees any bad length */
	for (size_t i = 0; i < name_len; i++)
		*sum += name[i];
	for (size_t i = 0; i < entry->data_len; i++)
		*sum += value[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cn_cache_conf_t conf = { .budget_bytes = 1 << 20, .stale_window_s = 3600 };
	cn_cache_t *c;
	if (cn_cache_new(&conf, &c) != 0)
		abort();
	const uint64_t now = 1700000000;
	long n = cn_cache_load_buf(c, data, size, now);
	size_t sum = 0;
	size_t walked = cn_cache_walk(c, now, walk_cb, &sum);
	cn_cache_stats_t st;
	cn_cache_stats(c, &st);
	if (st.bytes_used > st.budget_bytes || walked != st.entries)
		abort();
	if (n > 0) {
		char path[64];
		snprintf(path, sizeof(path), "/tmp/fuzz_cache_load.%d", (int)getpid());
		long w = cn_cache_dump(c, path, now);
		cn_cache_t *d;
		if (cn_cache_new(&conf, &d) != 0)
			abort();
		long r = cn_cache_load(d, path, now);
		if (w < 0 || r != w || (size_t)w != st.entries)
			abort();
		unlink(path);
		cn_cache_free(d);
	}
	cn_cache_free(c);
	return 0;
}
