/* gen-unicode-tables.c — helper of gen-unicode-tables.sh: writes the General_Category that the
 * installed utf8proc reports for every code point 0..0x10FFFF (one byte each, utf8proc's
 * UTF8PROC_CATEGORY_* numbering) to stdout, after a first line "<utf8proc unicode version>\n". */
#include <stdio.h>
#include <utf8proc.h>

int main(void) {
    printf("%s\n", utf8proc_unicode_version());
    for (utf8proc_int32_t cp = 0; cp <= 0x10FFFF; cp++) putchar((int)utf8proc_category(cp));
    return fflush(stdout) == 0 ? 0 : 1;
}
