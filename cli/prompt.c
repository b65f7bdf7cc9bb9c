/* prompt.c — see prompt.h. */
#include "cli/prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_prompt_free(cli_prompt *p) {
    msglist_free(&p->msgs);
    tooldefs_free(&p->tools);
    free(p->tools_ts);
    free(p->system);
    memset(p, 0, sizeof *p);
}

int cli_prompt_set_tools(cli_prompt *p, tooldefs *t) {
    tooldefs_free(&p->tools);
    free(p->tools_ts);
    p->tools_ts = NULL;
    p->tools = *t;
    memset(t, 0, sizeof *t);
    if (p->tools.n && !(p->tools_ts = tooldefs_render(&p->tools))) return -1;
    return 0;
}

int cli_prompt_load(const cli_opts *o, const char *user_text, cli_prompt *p) {
    memset(p, 0, sizeof *p);
    cli_today(p->date);
    snprintf(p->effort, sizeof p->effort, "%s", o->effort ? o->effort : "medium");
    if (o->system && o->system_file) {
        cli_error("use either --system or --system-file, not both");
        return EXIT_USAGE;
    }
    if (o->system_file) {
        if (!(p->system = cli_slurp_file(o->system_file, NULL))) return EXIT_USAGE;
    } else if (o->system && !(p->system = strdup(o->system)))
        goto oom;
    tooldefs ft = {0};
    if (o->messages_file) {
        char *eff = NULL, *sys = NULL;
        if (messages_load(o->messages_file, &p->msgs, &ft, &eff, &sys)) goto usage;
        if (eff) snprintf(p->effort, sizeof p->effort, "%s", eff);
        free(eff);
        int first_sys = p->msgs.n && (!strcmp(p->msgs.m[0].role, "system") ||
                                      !strcmp(p->msgs.m[0].role, "developer"));
        if ((p->system || sys) && first_sys) {
            free(sys);
            tooldefs_free(&ft);
            cli_error("%s: developer instructions given twice (a first system message and "
                      "--system or \"system\")",
                      o->messages_file);
            goto usage;
        }
        if (sys && p->system) {
            free(sys);
            tooldefs_free(&ft);
            cli_error("%s: developer instructions given twice (\"system\" and --system)",
                      o->messages_file);
            goto usage;
        }
        if (sys) p->system = sys;
    }
    if (o->tools_file) {
        if (ft.n) {
            tooldefs_free(&ft);
            cli_error("tools given twice (--tools and the \"tools\" of %s)", o->messages_file);
            goto usage;
        }
        if (tooldefs_load(o->tools_file, &ft)) goto usage;
    }
    if (cli_prompt_set_tools(p, &ft)) goto oom;
    if (user_text) {
        harmony_msg m = {.role = "user", .content = user_text};
        if (msglist_add(&p->msgs, &m)) goto oom;
    }
    return 0;
oom:
    cli_error("out of memory");
    cli_prompt_free(p);
    return EXIT_RUNTIME;
usage:
    cli_prompt_free(p);
    return EXIT_USAGE;
}

void cli_prompt_conv(const cli_prompt *p, harmony_conv *c) {
    memset(c, 0, sizeof *c);
    c->date = p->date;
    c->effort = p->effort;
    c->developer = p->system;
    c->msgs = p->msgs.m;
    c->n_msgs = p->msgs.n;
    c->tools = p->tools_ts;
}
