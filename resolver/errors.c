/*
 * Text for cairn return codes. Resolver-specific codes (CN_ERROR_MIN and below) come from the
 * CN_ERRNO_MAP X-macro table in errors.h, so the enum and its messages cannot drift apart;
 * every other negative value is a negated errno and goes to strerror().
 */
#include "resolver/errors.h"

#include <string.h>

const char *cn_strerror(int err)
{
	switch (err) {
#define XX(name, value, text)                                                  \
	case CN_##name:                                                        \
		return text;
		CN_ERRNO_MAP(XX)
#undef XX
	case 0:
		return "success";
	default:
		break;
	}
	if (err < 0 && err > CN_ERROR_MIN)
		return strerror(-err);
	return "unknown error";
}
