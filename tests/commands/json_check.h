/* tests/commands/json_check.h — a strict JSON parser (RFC 8259) for the tests: parses a whole
 * document into a small tree, or says where it is malformed. Strings are kept as written between
 * the quotes (escapes checked, not decoded), numbers as doubles. */
#ifndef VT_TESTS_JSON_CHECK_H
#define VT_TESTS_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_value {
    enum json_type type;
    bool boolean;
    double number;
    char *string;               /* JSON_STRING: the raw contents */
    struct json_value *items;   /* JSON_ARRAY elements, JSON_OBJECT member values */
    char **keys;                /* JSON_OBJECT member names (raw) */
    size_t count;
};

/* Parses `text`; NULL when it is not exactly one valid JSON value (with the reason and offset in
 * error[0..error_size)). Free with json_free. */
struct json_value *json_parse(const char *text, char *error, size_t error_size);
void json_free(struct json_value *value);

/* The member `key` of an object, or NULL (also when `object` is not an object). */
const struct json_value *json_member(const struct json_value *object, const char *key);
/* Member shorthands: NULL / NAN / false when missing or of another type. */
const char *json_member_string(const struct json_value *object, const char *key);
double json_member_number(const struct json_value *object, const char *key);

#endif
