/* common/names.c — printable names for the enums of vramtrace/events.h. */
#include "vramtrace/events.h"

const char *vt_api_name(enum vt_api api)
{
    static const char *const names[] = {
#define VT_API_NAME(name, layer) #name,
        VT_API_LIST(VT_API_NAME)
#undef VT_API_NAME
    };
    return (unsigned)api < VT_API_COUNT ? names[api] : "unknown";
}

const char *vt_memory_kind_name(enum vt_memory_kind kind)
{
    static const char *const names[] = {"device", "host-pinned", "managed", "address-space", "mapped-range"};
    return (unsigned)kind < VT_KIND_COUNT ? names[kind] : "unknown";
}
