/* tests/commands/json_check.c — see json_check.h. Recursive descent over the RFC 8259 grammar. */
#define _GNU_SOURCE
#include "json_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

struct parser {
    const char *text, *at;
    char *error;
    size_t error_size;
    bool failed;
};

static void fail(struct parser *parser, const char *what)
{
    if (!parser->failed)
        snprintf(parser->error, parser->error_size, "%s at offset %zu", what, (size_t)(parser->at - parser->text));
    parser->failed = true;
}

static void skip_space(struct parser *parser)
{
    while (*parser->at == ' ' || *parser->at == '\t' || *parser->at == '\n' || *parser->at == '\r')
        parser->at++;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static char *parse_string(struct parser *parser)
{
    const char *start = ++parser->at; /* after the opening quote */
    for (;;) {
        unsigned char c = (unsigned char)*parser->at;
        if (c == '"')
            break;
        if (c == '\0' || c < 0x20) {
            fail(parser, c ? "control character in a string" : "unterminated string");
            return NULL;
        }
        if (c == '\\') {
            char escape = parser->at[1];
            if (escape == 'u') {
                for (int i = 2; i < 6; i++)
                    if (!is_hex(parser->at[i])) {
                        fail(parser, "bad \\u escape");
                        return NULL;
                    }
                parser->at += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", escape) || escape == '\0') {
                fail(parser, "bad escape");
                return NULL;
            }
            parser->at += 2;
            continue;
        }
        parser->at++;
    }
    char *string = strndup(start, (size_t)(parser->at - start));
    parser->at++;
    return string;
}

static bool parse_number(struct parser *parser, double *number)
{
    const char *start = parser->at, *c = parser->at;
    if (*c == '-')
        c++;
    if (*c == '0')
        c++;
    else if (*c >= '1' && *c <= '9')
        while (*c >= '0' && *c <= '9')
            c++;
    else
        return false;
    if (*c == '.') {
        c++;
        if (!(*c >= '0' && *c <= '9'))
            return false;
        while (*c >= '0' && *c <= '9')
            c++;
    }
    if (*c == 'e' || *c == 'E') {
        c++;
        if (*c == '+' || *c == '-')
            c++;
        if (!(*c >= '0' && *c <= '9'))
            return false;
        while (*c >= '0' && *c <= '9')
            c++;
    }
    *number = strtod(start, NULL);
    parser->at = c;
    return true;
}

static void parse_value(struct parser *parser, struct json_value *value, int depth);

static void append(struct json_value *container, struct json_value *item, char *key)
{
    container->items = realloc(container->items, (container->count + 1) * sizeof *container->items);
    container->items[container->count] = *item;
    if (container->type == JSON_OBJECT) {
        container->keys = realloc(container->keys, (container->count + 1) * sizeof *container->keys);
        container->keys[container->count] = key;
    }
    container->count++;
}

static void parse_container(struct parser *parser, struct json_value *value, int depth)
{
    bool object = *parser->at == '{';
    char close = object ? '}' : ']';
    value->type = object ? JSON_OBJECT : JSON_ARRAY;
    parser->at++;
    skip_space(parser);
    if (*parser->at == close) {
        parser->at++;
        return;
    }
    for (;;) {
        char *key = NULL;
        skip_space(parser);
        if (object) {
            if (*parser->at != '"') {
                fail(parser, "expected a member name");
                return;
            }
            key = parse_string(parser);
            if (!key)
                return;
            skip_space(parser);
            if (*parser->at != ':') {
                free(key);
                fail(parser, "expected ':'");
                return;
            }
            parser->at++;
        }
        struct json_value item = {0};
        parse_value(parser, &item, depth + 1);
        append(value, &item, key);
        if (parser->failed)
            return;
        skip_space(parser);
        if (*parser->at == ',') {
            parser->at++;
            continue;
        }
        if (*parser->at == close) {
            parser->at++;
            return;
        }
        fail(parser, object ? "expected ',' or '}'" : "expected ',' or ']'");
        return;
    }
}

static void parse_value(struct parser *parser, struct json_value *value, int depth)
{
    if (depth > MAX_DEPTH) {
        fail(parser, "nested too deep");
        return;
    }
    skip_space(parser);
    char c = *parser->at;
    if (c == '{' || c == '[') {
        parse_container(parser, value, depth);
    } else if (c == '"') {
        value->type = JSON_STRING;
        value->string = parse_string(parser);
    } else if (strncmp(parser->at, "true", 4) == 0 || strncmp(parser->at, "false", 5) == 0) {
        value->type = JSON_BOOL;
        value->boolean = c == 't';
        parser->at += value->boolean ? 4 : 5;
    } else if (strncmp(parser->at, "null", 4) == 0) {
        value->type = JSON_NULL;
        parser->at += 4;
    } else {
        value->type = JSON_NUMBER;
        if (!parse_number(parser, &value->number))
            fail(parser, "expected a value");
    }
}

struct json_value *json_parse(const char *text, char *error, size_t error_size)
{
    struct parser parser = {.text = text, .at = text, .error = error, .error_size = error_size};
    struct json_value *value = calloc(1, sizeof *value);
    parse_value(&parser, value, 0);
    skip_space(&parser);
    if (!parser.failed && *parser.at != '\0')
        fail(&parser, "text after the document");
    if (parser.failed) {
        json_free(value);
        return NULL;
    }
    return value;
}

static void free_contents(struct json_value *value)
{
    for (size_t i = 0; i < value->count; i++) {
        free_contents(&value->items[i]);
        if (value->keys)
            free(value->keys[i]);
    }
    free(value->items);
    free(value->keys);
    free(value->string);
}

void json_free(struct json_value *value)
{
    if (!value)
        return;
    free_contents(value);
    free(value);
}

const struct json_value *json_member(const struct json_value *object, const char *key)
{
    if (!object || object->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < object->count; i++)
        if (strcmp(object->keys[i], key) == 0)
            return &object->items[i];
    return NULL;
}

const char *json_member_string(const struct json_value *object, const char *key)
{
    const struct json_value *member = json_member(object, key);
    return member && member->type == JSON_STRING ? member->string : NULL;
}

double json_member_number(const struct json_value *object, const char *key)
{
    const struct json_value *member = json_member(object, key);
    return member && member->type == JSON_NUMBER ? member->number : NAN;
}
