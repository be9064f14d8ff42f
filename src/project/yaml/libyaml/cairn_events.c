/*
 * cairn's narrow interface to libyaml's event parser: the parser and its current
 * event live in one heap object, and each event is copied out into a flat struct
 * whose layout the Rust side (src/project/yaml/events.rs) mirrors.
 */

#include <stdlib.h>
#include <string.h>

#include "yaml.h"

typedef struct {
    yaml_parser_t parser;
    yaml_event_t event;
    int has_event;
} cairn_yaml;

typedef struct {
    int type;
    size_t index, line, column;
    const char *anchor;
    const char *tag;
    const char *value;
    size_t length;
    int plain_implicit;
    int style;
} cairn_yaml_event_t;

typedef struct {
    const char *problem;
    size_t problem_index, problem_line, problem_column;
    const char *context;
    size_t context_index, context_line, context_column;
} cairn_yaml_error_t;

cairn_yaml *cairn_yaml_new(const unsigned char *input, size_t length)
{
    cairn_yaml *y = calloc(1, sizeof(cairn_yaml));
    if (!y)
        return NULL;
    if (!yaml_parser_initialize(&y->parser)) {
        free(y);
        return NULL;
    }
    yaml_parser_set_input_string(&y->parser, input, length);
    return y;
}

void cairn_yaml_free(cairn_yaml *y)
{
    if (!y)
        return;
    if (y->has_event)
        yaml_event_delete(&y->event);
    yaml_parser_delete(&y->parser);
    free(y);
}

/* Parses the next event into `out` (its strings stay valid until the next call).
   Returns 1, or 0 on an error (see cairn_yaml_error). */
int cairn_yaml_next(cairn_yaml *y, cairn_yaml_event_t *out)
{
    yaml_event_t *e = &y->event;
    if (y->has_event) {
        yaml_event_delete(e);
        y->has_event = 0;
    }
    if (!yaml_parser_parse(&y->parser, e))
        return 0;
    y->has_event = 1;
    memset(out, 0, sizeof(*out));
    out->type = e->type;
    out->index = e->start_mark.index;
    out->line = e->start_mark.line;
    out->column = e->start_mark.column;
    switch (e->type) {
    case YAML_ALIAS_EVENT:
        out->anchor = (const char *)e->data.alias.anchor;
        break;
    case YAML_SCALAR_EVENT:
        out->anchor = (const char *)e->data.scalar.anchor;
        out->tag = (const char *)e->data.scalar.tag;
        out->value = (const char *)e->data.scalar.value;
        out->length = e->data.scalar.length;
        out->plain_implicit = e->data.scalar.plain_implicit;
        out->style = e->data.scalar.style;
        break;
    case YAML_SEQUENCE_START_EVENT:
        out->anchor = (const char *)e->data.sequence_start.anchor;
        out->tag = (const char *)e->data.sequence_start.tag;
        out->style = e->data.sequence_start.style;
        break;
    case YAML_MAPPING_START_EVENT:
        out->anchor = (const char *)e->data.mapping_start.anchor;
        out->tag = (const char *)e->data.mapping_start.tag;
        out->style = e->data.mapping_start.style;
        break;
    default:
        break;
    }
    return 1;
}

void cairn_yaml_error(const cairn_yaml *y, cairn_yaml_error_t *out)
{
    const yaml_parser_t *p = &y->parser;
    out->problem = p->problem;
    out->problem_index = p->problem_mark.index;
    out->problem_line = p->problem_mark.line;
    out->problem_column = p->problem_mark.column;
    out->context = p->context;
    out->context_index = p->context_mark.index;
    out->context_line = p->context_mark.line;
    out->context_column = p->context_mark.column;
}
