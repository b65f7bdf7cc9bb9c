/* lineedit.c — the chat's prompt line editor (keys, history, paste: see lineedit.h).
 *
 * One edit line, redrawn in full after every key: "\r" + prompt + the visible window of the
 * buffer + clear to end of line, then the cursor is placed by column. The window scrolls
 * horizontally so the cursor stays visible; widths come from utf8proc_charwidth. The buffer only
 * ever holds valid UTF-8 (typed or pasted bytes are decoded first; invalid ones become U+FFFD). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <utf8proc.h>

#include "cli/lineedit.h"

#define LE_MAX_LINE (4 << 20) /* longest entry (chat.c's CHAT_MAX_LINE) */
#define LE_ESC_MS 50          /* a lone Esc: nothing follows within this time */

struct lineedit {
    int in, out;
    struct termios orig;
    int raw;
    volatile sig_atomic_t *intr;
    const char *const *comp;
    /* the edit buffer */
    char *buf;
    size_t len, cap, pos, scroll;
    char *kill;
    size_t kill_len;
    const char *prompt;
    int prompt_w;
    int ctrlc_armed; /* the last key was Ctrl-C on an empty line (or one that cleared it) */
    /* history */
    char *hist_path;
    char **hist;
    size_t *hist_len;
    size_t n_hist, cap_hist;
    size_t hist_idx; /* n_hist: the line being edited */
    char *saved;     /* the line being edited while browsing the history */
    size_t saved_len;
    int hist_warned;
};

/* ---- keys ------------------------------------------------------------------------------------ */
enum {
    K_EOF = -1,
    K_INTR = -2,
    K_CHAR = 1000, /* key.u holds one UTF-8 character */
    K_LEFT,
    K_RIGHT,
    K_UP,
    K_DOWN,
    K_HOME,
    K_END,
    K_DEL,
    K_WLEFT,
    K_WRIGHT,
    K_PASTE,
    K_ESC,
    K_IGNORE,
};
#define KEY_CTRL(c) ((c)&0x1f)

typedef struct key {
    int code; /* a control byte (1..31, 127), or K_* */
    char u[8];
    int n;
} key;

/* One byte within ms milliseconds (ms < 0: wait). 1 ok, 0 timeout, K_EOF, K_INTR. */
static int read_byte(lineedit *le, unsigned char *c, int ms) {
    int waited = 0;
    for (;;) {
        if (le->intr && *le->intr) return K_INTR;
        struct pollfd pf = {le->in, POLLIN, 0};
        int step = ms < 0 ? 100 : (ms - waited < 100 ? ms - waited : 100);
        int pr = poll(&pf, 1, step);
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) return K_EOF;
        if (pr == 0) {
            waited += step;
            if (ms >= 0 && waited >= ms) return 0;
            continue;
        }
        ssize_t r = read(le->in, c, 1);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        return r == 1 ? 1 : K_EOF;
    }
}

/* The rest of a UTF-8 character whose first byte is b0; invalid input gives U+FFFD. */
static void read_utf8(lineedit *le, unsigned char b0, key *k) {
    int need = b0 >= 0xF0 && b0 <= 0xF4 ? 3 : b0 >= 0xE0 ? 2 : b0 >= 0xC2 && b0 < 0xE0 ? 1 : -1;
    k->code = K_CHAR;
    k->u[0] = (char)b0;
    k->n = 1;
    if (b0 < 0x80) return;
    for (int i = 0; i < need; i++) {
        unsigned char c;
        if (read_byte(le, &c, LE_ESC_MS) != 1 || (c & 0xC0) != 0x80) {
            need = -1;
            break;
        }
        k->u[k->n++] = (char)c;
    }
    utf8proc_int32_t cp;
    if (need < 0 || utf8proc_iterate((const utf8proc_uint8_t *)k->u, k->n, &cp) != k->n)
        memcpy(k->u, "\xEF\xBF\xBD", 3), k->n = 3;
}

static int read_key(lineedit *le, key *k) {
    unsigned char c;
    int r = read_byte(le, &c, -1);
    if (r != 1) return k->code = r;
    if (c != 0x1b) {
        if (c < 0x20 || c == 0x7f) return k->code = c;
        read_utf8(le, c, k);
        return k->code;
    }
    /* Esc: alone, Alt-x, CSI "ESC [ params final" or SS3 "ESC O x" */
    if ((r = read_byte(le, &c, LE_ESC_MS)) != 1) return k->code = r == 0 ? K_ESC : r;
    if (c == 'b' || c == 'B') return k->code = K_WLEFT;
    if (c == 'f' || c == 'F') return k->code = K_WRIGHT;
    if (c == 'O') {
        if ((r = read_byte(le, &c, LE_ESC_MS)) != 1) return k->code = r == 0 ? K_IGNORE : r;
        switch (c) {
        case 'A':
            return k->code = K_UP;
        case 'B':
            return k->code = K_DOWN;
        case 'C':
            return k->code = K_RIGHT;
        case 'D':
            return k->code = K_LEFT;
        case 'H':
            return k->code = K_HOME;
        case 'F':
            return k->code = K_END;
        }
        return k->code = K_IGNORE;
    }
    if (c != '[') return k->code = K_IGNORE;
    char params[16];
    int np = 0;
    for (;;) {
        if ((r = read_byte(le, &c, LE_ESC_MS)) != 1) return k->code = r == 0 ? K_IGNORE : r;
        if (c >= 0x40 && c <= 0x7e) break;
        if (np < (int)sizeof params - 1) params[np++] = (char)c;
    }
    params[np] = 0;
    int mod = strstr(params, ";5") || strstr(params, ";3"); /* Ctrl- or Alt-arrow */
    switch (c) {
    case 'A':
        return k->code = K_UP;
    case 'B':
        return k->code = K_DOWN;
    case 'C':
        return k->code = mod ? K_WRIGHT : K_RIGHT;
    case 'D':
        return k->code = mod ? K_WLEFT : K_LEFT;
    case 'H':
        return k->code = K_HOME;
    case 'F':
        return k->code = K_END;
    case '~':
        if (!strcmp(params, "1") || !strcmp(params, "7")) return k->code = K_HOME;
        if (!strcmp(params, "4") || !strcmp(params, "8")) return k->code = K_END;
        if (!strcmp(params, "3")) return k->code = K_DEL;
        if (!strcmp(params, "200")) return k->code = K_PASTE;
        return k->code = K_IGNORE;
    }
    return k->code = K_IGNORE;
}

/* ---- buffer ---------------------------------------------------------------------------------- */
static int reserve(char **b, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need) n *= 2;
    char *p = realloc(*b, n);
    if (!p) return -1;
    *b = p;
    *cap = n;
    return 0;
}

static void set_line(lineedit *le, const char *s, size_t n) {
    if (reserve(&le->buf, &le->cap, n + 1)) return;
    memcpy(le->buf, s, n);
    le->len = le->pos = n;
    le->buf[n] = 0;
    le->scroll = 0;
}

static void insert(lineedit *le, const char *s, size_t n) {
    if (le->len + n > LE_MAX_LINE || reserve(&le->buf, &le->cap, le->len + n + 1)) return;
    memmove(le->buf + le->pos + n, le->buf + le->pos, le->len - le->pos);
    memcpy(le->buf + le->pos, s, n);
    le->len += n;
    le->pos += n;
    le->buf[le->len] = 0;
}

/* Removes [a, b) and keeps it as the last kill when `kill`. */
static void erase(lineedit *le, size_t a, size_t b, int kill) {
    if (b <= a) return;
    if (kill) {
        char *k = realloc(le->kill, b - a);
        if (k) {
            memcpy(k, le->buf + a, b - a);
            le->kill = k;
            le->kill_len = b - a;
        }
    }
    memmove(le->buf + a, le->buf + b, le->len - b);
    le->len -= b - a;
    le->buf[le->len] = 0;
    if (le->pos > b)
        le->pos -= b - a;
    else if (le->pos > a)
        le->pos = a;
}

/* Code point at byte i (the buffer is valid UTF-8). */
static utf8proc_int32_t cp_at(const char *s, size_t n, size_t i, size_t *bytes) {
    utf8proc_int32_t cp = 0xFFFD;
    utf8proc_ssize_t r =
        utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
    *bytes = r > 0 ? (size_t)r : 1;
    return cp;
}

/* Display width and the bytes to draw for one character ('\n' as "↵", other controls as ^X). */
static int char_cols(utf8proc_int32_t cp) {
    if (cp == '\n' || cp == '\t') return 1;
    if (cp < 0x20 || cp == 0x7f) return 2;
    if (cp >= 0x80 && cp < 0xa0) return 1;
    int w = utf8proc_charwidth(cp);
    return w < 0 ? 1 : w;
}

/* Next character boundary: one code point plus the zero-width ones that follow it. */
static size_t next_char(const lineedit *le, size_t i) {
    if (i >= le->len) return le->len;
    size_t b;
    cp_at(le->buf, le->len, i, &b);
    i += b;
    while (i < le->len) {
        utf8proc_int32_t cp = cp_at(le->buf, le->len, i, &b);
        if (cp < 0x300 || char_cols(cp) != 0) break;
        i += b;
    }
    return i;
}

static size_t prev_char(const lineedit *le, size_t i) {
    while (i > 0) {
        do i--;
        while (i > 0 && ((unsigned char)le->buf[i] & 0xC0) == 0x80);
        size_t b;
        utf8proc_int32_t cp = cp_at(le->buf, le->len, i, &b);
        if (cp < 0x300 || char_cols(cp) != 0) break;
    }
    return i;
}

static int is_space_at(const lineedit *le, size_t i) {
    char c = le->buf[i];
    return c == ' ' || c == '\t' || c == '\n';
}

static size_t word_left(const lineedit *le, size_t i) {
    while (i > 0 && is_space_at(le, i - 1)) i--;
    while (i > 0 && !is_space_at(le, i - 1)) i = prev_char(le, i);
    return i;
}

static size_t word_right(const lineedit *le, size_t i) {
    while (i < le->len && is_space_at(le, i)) i++;
    while (i < le->len && !is_space_at(le, i)) i = next_char(le, i);
    return i;
}

/* ---- drawing --------------------------------------------------------------------------------- */
typedef struct outbuf {
    char *s;
    size_t n, cap;
} outbuf;

static void out_add(outbuf *o, const char *s, size_t n) {
    if (reserve(&o->s, &o->cap, o->n + n)) return;
    memcpy(o->s + o->n, s, n);
    o->n += n;
}
static void out_str(outbuf *o, const char *s) {
    out_add(o, s, strlen(s));
}

static void write_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static int term_cols(const lineedit *le) {
    struct winsize ws;
    if (ioctl(le->out, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

/* Width of a prompt, skipping "ESC [ ... letter" colour sequences. */
static int prompt_width(const char *p) {
    int w = 0;
    while (*p) {
        if (*p == 0x1b) {
            p++;
            if (*p == '[') {
                p++;
                while (*p && !(*p >= 0x40 && *p <= 0x7e)) p++;
                if (*p) p++;
            }
            continue;
        }
        size_t b;
        w += char_cols(cp_at(p, strlen(p), 0, &b));
        p += b;
    }
    return w;
}

/* Appends characters of s[a, b) that fit in `room` columns; returns the columns used. */
static int draw_text(outbuf *o, const char *s, size_t n, size_t a, size_t b, int room) {
    int used = 0;
    for (size_t i = a; i < b;) {
        size_t nb;
        utf8proc_int32_t cp = cp_at(s, n, i, &nb);
        int w = char_cols(cp);
        if (used + w > room) break;
        if (cp == '\n')
            out_str(o, "\xE2\x86\xB5"); /* ↵ */
        else if (cp == '\t')
            out_str(o, " ");
        else if (cp < 0x20 || cp == 0x7f) {
            char c[2] = {'^', (char)(cp == 0x7f ? '?' : cp + '@')};
            out_add(o, c, 2);
        } else if (cp >= 0x80 && cp < 0xa0)
            out_str(o, "?");
        else
            out_add(o, s + i, nb);
        used += w;
        i += nb;
    }
    return used;
}

static int cols_between(const lineedit *le, size_t a, size_t b) {
    int w = 0;
    for (size_t i = a; i < b;) {
        size_t nb;
        w += char_cols(cp_at(le->buf, le->len, i, &nb));
        i += nb;
    }
    return w;
}

static void refresh(lineedit *le) {
    int room = term_cols(le) - le->prompt_w - 1;
    if (room < 1) room = 1;
    if (le->pos < le->scroll) le->scroll = le->pos;
    while (le->scroll < le->pos && cols_between(le, le->scroll, le->pos) > room)
        le->scroll = next_char(le, le->scroll);
    outbuf o = {0};
    out_str(&o, "\r");
    out_str(&o, le->prompt);
    draw_text(&o, le->buf, le->len, le->scroll, le->len, room);
    out_str(&o, "\x1b[K\r");
    int col = le->prompt_w + cols_between(le, le->scroll, le->pos);
    if (col > 0) {
        char mv[24];
        snprintf(mv, sizeof mv, "\x1b[%dC", col);
        out_str(&o, mv);
    }
    write_all(le->out, o.s, o.n);
    free(o.s);
}

/* ---- terminal mode --------------------------------------------------------------------------- */
static int raw_on(lineedit *le) {
    if (tcgetattr(le->in, &le->orig) != 0) return -1;
    struct termios t = le->orig;
    t.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
    t.c_cflag |= CS8;
    t.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(le->in, TCSADRAIN, &t) != 0) return -1; /* keeps type-ahead */
    le->raw = 1;
    write_all(le->out, "\x1b[?2004h", 8); /* bracketed paste on */
    return 0;
}

static void raw_off(lineedit *le) {
    if (!le->raw) return;
    write_all(le->out, "\x1b[?2004l", 8);
    tcsetattr(le->in, TCSADRAIN, &le->orig);
    le->raw = 0;
}

/* ---- history --------------------------------------------------------------------------------- */
int le_history_default_path(char *buf, size_t cap) {
    const char *x = getenv("XDG_STATE_HOME");
    int n;
    if (x && x[0] == '/')
        n = snprintf(buf, cap, "%s/gptc/history", x);
    else {
        const char *h = getenv("HOME");
        if (!h || !h[0]) return -1;
        n = snprintf(buf, cap, "%s/.local/state/gptc/history", h);
    }
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static void hist_push(lineedit *le, const char *s, size_t n) {
    if (le->n_hist == le->cap_hist) {
        size_t c = le->cap_hist ? le->cap_hist * 2 : 64;
        char **h = realloc(le->hist, c * sizeof *h);
        if (!h) return;
        le->hist = h;
        size_t *l = realloc(le->hist_len, c * sizeof *l);
        if (!l) return;
        le->hist_len = l;
        le->cap_hist = c;
    }
    char *e = malloc(n + 1);
    if (!e) return;
    memcpy(e, s, n);
    e[n] = 0;
    le->hist[le->n_hist] = e;
    le->hist_len[le->n_hist++] = n;
    if (le->n_hist > LE_HISTORY_MAX) {
        free(le->hist[0]);
        memmove(le->hist, le->hist + 1, (le->n_hist - 1) * sizeof *le->hist);
        memmove(le->hist_len, le->hist_len + 1, (le->n_hist - 1) * sizeof *le->hist_len);
        le->n_hist--;
    }
}

/* One history line: backslash and newline escaped. */
static void escape_entry(outbuf *o, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\')
            out_str(o, "\\\\");
        else if (s[i] == '\n')
            out_str(o, "\\n");
        else if (s[i] == '\r')
            out_str(o, "\\r");
        else
            out_add(o, s + i, 1);
    }
    out_str(o, "\n");
}

/* mkdir -p of the folder holding path, new folders 0700. */
static void make_parents(const char *path) {
    char *p = strdup(path);
    if (!p) return;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        mkdir(p, 0700);
        *s = '/';
    }
    free(p);
}

static void hist_warn(lineedit *le, const char *what) {
    if (le->hist_warned) return;
    le->hist_warned = 1;
    fprintf(stderr, "gptc: warning: history file %s: %s: %s (history not saved)\n", le->hist_path,
            what, strerror(errno));
}

static int open_history(lineedit *le, int flags) {
    make_parents(le->hist_path);
    int fd = open(le->hist_path, flags | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return -1;
    struct stat sb;
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 0777) != 0600) fchmod(fd, 0600);
    return fd;
}

/* Rewrites the file with the entries in memory (atomically: a 0600 temporary, then rename). */
static void hist_rewrite(lineedit *le) {
    size_t pl = strlen(le->hist_path);
    char *tmp = malloc(pl + 8);
    if (!tmp) return;
    snprintf(tmp, pl + 8, "%s.XXXXXX", le->hist_path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(tmp);
        return;
    }
    fchmod(fd, 0600);
    outbuf o = {0};
    for (size_t i = 0; i < le->n_hist; i++) escape_entry(&o, le->hist[i], le->hist_len[i]);
    write_all(fd, o.s ? o.s : "", o.n);
    free(o.s);
    if (close(fd) == 0 && rename(tmp, le->hist_path) == 0) {
        free(tmp);
        return;
    }
    unlink(tmp);
    free(tmp);
}

static void hist_load(lineedit *le) {
    int fd = open_history(le, O_RDONLY);
    if (fd < 0) {
        if (errno != ENOENT) hist_warn(le, "cannot open");
        return;
    }
    outbuf in = {0};
    char chunk[65536];
    ssize_t r;
    while ((r = read(fd, chunk, sizeof chunk)) > 0 && in.n < (64u << 20))
        out_add(&in, chunk, (size_t)r);
    close(fd);
    size_t lines = 0;
    outbuf e = {0};
    for (size_t i = 0; i < in.n; i++) {
        char c = in.s[i];
        if (c == '\n') {
            lines++;
            if (e.n) hist_push(le, e.s, e.n);
            e.n = 0;
        } else if (c == '\\' && i + 1 < in.n && in.s[i + 1] != '\n') {
            char d = in.s[++i];
            out_add(&e, d == 'n' ? "\n" : d == 'r' ? "\r" : &in.s[i], 1);
        } else {
            out_add(&e, &c, 1);
        }
    }
    if (e.n) hist_push(le, e.s, e.n);
    free(e.s);
    free(in.s);
    if (lines > 2 * LE_HISTORY_MAX) hist_rewrite(le);
}

void le_history_add(lineedit *le, const char *entry, size_t len) {
    if (!le || len == 0) return;
    if (le->n_hist && le->hist_len[le->n_hist - 1] == len &&
        !memcmp(le->hist[le->n_hist - 1], entry, len))
        return;
    hist_push(le, entry, len);
    if (!le->hist_path) return;
    int fd = open_history(le, O_WRONLY | O_APPEND);
    if (fd < 0) {
        hist_warn(le, "cannot write");
        return;
    }
    outbuf o = {0};
    escape_entry(&o, entry, len);
    write_all(fd, o.s, o.n);
    free(o.s);
    close(fd);
}

static void hist_move(lineedit *le, int dir) {
    if (dir < 0 && le->hist_idx == 0) return;
    if (dir > 0 && le->hist_idx >= le->n_hist) return;
    if (le->hist_idx == le->n_hist) { /* keep the line being edited */
        char *s = malloc(le->len + 1);
        if (!s) return;
        memcpy(s, le->buf, le->len + 1);
        free(le->saved);
        le->saved = s;
        le->saved_len = le->len;
    }
    le->hist_idx = (size_t)((long)le->hist_idx + dir);
    if (le->hist_idx == le->n_hist)
        set_line(le, le->saved ? le->saved : "", le->saved ? le->saved_len : 0);
    else
        set_line(le, le->hist[le->hist_idx], le->hist_len[le->hist_idx]);
}

/* ---- reverse search -------------------------------------------------------------------------- */
/* Newest entry at or before `from` (inclusive) containing q; -1 if none. */
static long hist_find(const lineedit *le, const char *q, size_t qn, long from) {
    for (long i = from; i >= 0; i--) {
        if (qn == 0) return i;
        const char *h = le->hist[i];
        size_t hn = le->hist_len[i];
        for (size_t j = 0; j + qn <= hn; j++)
            if (!memcmp(h + j, q, qn)) return i;
    }
    return -1;
}

static void draw_search(lineedit *le, const char *q, size_t qn, long found) {
    outbuf o = {0};
    out_str(&o, found < 0 && qn ? "\r(failed reverse-i-search)`" : "\r(reverse-i-search)`");
    out_add(&o, q, qn);
    out_str(&o, "': ");
    int room = term_cols(le) - 24 - (int)qn;
    if (found >= 0 && room > 0)
        draw_text(&o, le->hist[found], le->hist_len[found], 0, le->hist_len[found], room);
    out_str(&o, "\x1b[K");
    write_all(le->out, o.s, o.n);
    free(o.s);
}

/* Ctrl-R mode. Returns 1 to submit the line, 0 to go on editing (*k: a key still to handle, or
 * code 0), or K_EOF / K_INTR. */
static int search(lineedit *le, key *k) {
    char q[256];
    size_t qn = 0;
    long found = -1, start = (long)le->n_hist - 1;
    k->code = 0;
    for (;;) {
        draw_search(le, q, qn, found);
        key c;
        int r = read_key(le, &c);
        if (r == K_EOF || r == K_INTR) return r;
        if (r == K_CHAR) {
            if (qn + (size_t)c.n < sizeof q) memcpy(q + qn, c.u, (size_t)c.n), qn += (size_t)c.n;
            found = hist_find(le, q, qn, found >= 0 ? found : start);
        } else if (r == KEY_CTRL('R')) {
            if (found > 0) {
                long f = hist_find(le, q, qn, found - 1);
                if (f >= 0) found = f;
            } else if (found < 0)
                found = hist_find(le, q, qn, start);
        } else if (r == 0x7f || r == KEY_CTRL('H')) {
            while (qn > 0 && ((unsigned char)q[--qn] & 0xC0) == 0x80) {
            }
            found = hist_find(le, q, qn, start);
        } else if (r == KEY_CTRL('G') || r == K_ESC || r == KEY_CTRL('C')) {
            return 0; /* the line as it was */
        } else {
            if (found >= 0) {
                set_line(le, le->hist[found], le->hist_len[found]);
                le->hist_idx = le->n_hist;
            }
            if (r == '\r' || r == '\n') return 1;
            *k = c;
            return 0;
        }
    }
}

/* ---- completion ------------------------------------------------------------------------------ */
static void complete(lineedit *le) {
    if (!le->comp || le->len == 0 || le->buf[0] != '/' || le->pos != le->len ||
        memchr(le->buf, ' ', le->len)) {
        write_all(le->out, "\a", 1);
        return;
    }
    const char *first = NULL;
    size_t common = 0, n = 0;
    for (const char *const *c = le->comp; *c; c++) {
        if (strncmp(*c, le->buf, le->len)) continue;
        if (!first) {
            first = *c;
            common = strlen(*c);
        } else {
            size_t i = 0;
            while (i < common && (*c)[i] == first[i]) i++;
            common = i;
        }
        n++;
    }
    if (n == 0) {
        write_all(le->out, "\a", 1);
        return;
    }
    if (common > le->len) {
        insert(le, first + le->len, common - le->len);
        return;
    }
    /* nothing to add: list the candidates under the line */
    outbuf o = {0};
    out_str(&o, "\r\n");
    for (const char *const *c = le->comp; *c; c++)
        if (!strncmp(*c, le->buf, le->len)) out_str(&o, *c), out_str(&o, "  ");
    out_str(&o, "\r\n");
    write_all(le->out, o.s, o.n);
    free(o.s);
}

/* ---- paste ----------------------------------------------------------------------------------- */
/* Inserts everything up to ESC[201~ (or a second without input: a terminal that never ends the
 * paste); CR and CRLF become LF; other control characters but tab are dropped. */
static int paste(lineedit *le) {
    static const char end[] = "\x1b[201~";
    outbuf o = {0};
    size_t matched = 0;
    int r = 1, cr = 0;
    while (matched < 6) {
        unsigned char c;
        if ((r = read_byte(le, &c, 1000)) != 1) break;
        if (c == (unsigned char)end[matched]) {
            matched++;
            continue;
        }
        if (matched) out_add(&o, end, matched), matched = 0;
        if (c == (unsigned char)end[0]) {
            matched = 1;
            continue;
        }
        if (c == '\n' && cr) {
            cr = 0;
            continue;
        }
        cr = c == '\r';
        if ((c < 0x20 && c != '\n' && c != '\t' && !cr) || c == 0x7f) continue;
        if (o.n < LE_MAX_LINE) out_add(&o, cr ? "\n" : (const char *)&c, 1);
    }
    if (r == 0) r = 1; /* idle: the paste ends here */
    /* keep valid UTF-8 only */
    for (size_t i = 0; i < o.n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t b =
            utf8proc_iterate((const utf8proc_uint8_t *)o.s + i, (utf8proc_ssize_t)(o.n - i), &cp);
        if (b > 0) {
            insert(le, o.s + i, (size_t)b);
            i += (size_t)b;
        } else {
            insert(le, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
    free(o.s);
    return r == 1 ? 1 : r;
}

/* ---- the editor ------------------------------------------------------------------------------ */
lineedit *le_open(const char *history_path, const char *const *completions,
                  volatile sig_atomic_t *interrupted) {
    if (!isatty(0) || !isatty(1)) return NULL;
    lineedit *le = calloc(1, sizeof *le);
    if (!le) return NULL;
    le->in = 0;
    le->out = 1;
    le->intr = interrupted;
    le->comp = completions;
    char def[4096];
    if (!history_path && le_history_default_path(def, sizeof def) == 0) history_path = def;
    if (history_path && history_path[0]) {
        le->hist_path = strdup(history_path);
        if (le->hist_path) hist_load(le);
    }
    return le;
}

void le_close(lineedit *le) {
    if (!le) return;
    raw_off(le);
    for (size_t i = 0; i < le->n_hist; i++) free(le->hist[i]);
    free(le->hist);
    free(le->hist_len);
    free(le->hist_path);
    free(le->saved);
    free(le->kill);
    free(le->buf);
    free(le);
}

/* 1 submit, 0 EOF, -1 quit/interrupted; anything else: keep reading. */
static int handle(lineedit *le, key *k) {
    int code = k->code;
    if (code != KEY_CTRL('C')) le->ctrlc_armed = 0;
    switch (code) {
    case K_EOF:
        return 0;
    case K_INTR:
        return -1;
    case '\r':
    case '\n':
        return 1;
    case KEY_CTRL('C'):
        if (le->len > 0) {
            set_line(le, "", 0);
            le->hist_idx = le->n_hist;
            write_all(le->out, "^C\r\n", 4);
        } else if (le->ctrlc_armed) {
            write_all(le->out, "^C", 2);
            return -1;
        } else {
            write_all(le->out, "^C\r\n(Ctrl-C again or Ctrl-D to quit)\r\n", 38);
        }
        le->ctrlc_armed = 1;
        break;
    case KEY_CTRL('D'):
        if (le->len == 0) return 0;
        erase(le, le->pos, next_char(le, le->pos), 0);
        break;
    case K_DEL:
        erase(le, le->pos, next_char(le, le->pos), 0);
        break;
    case 0x7f:
    case KEY_CTRL('H'):
        erase(le, prev_char(le, le->pos), le->pos, 0);
        break;
    case K_LEFT:
    case KEY_CTRL('B'):
        le->pos = prev_char(le, le->pos);
        break;
    case K_RIGHT:
    case KEY_CTRL('F'):
        le->pos = next_char(le, le->pos);
        break;
    case K_WLEFT:
        le->pos = word_left(le, le->pos);
        break;
    case K_WRIGHT:
        le->pos = word_right(le, le->pos);
        break;
    case K_HOME:
    case KEY_CTRL('A'):
        le->pos = 0;
        break;
    case K_END:
    case KEY_CTRL('E'):
        le->pos = le->len;
        break;
    case KEY_CTRL('K'):
        erase(le, le->pos, le->len, 1);
        break;
    case KEY_CTRL('U'):
        erase(le, 0, le->pos, 1);
        break;
    case KEY_CTRL('W'):
        erase(le, word_left(le, le->pos), le->pos, 1);
        break;
    case KEY_CTRL('Y'):
        if (le->kill_len) insert(le, le->kill, le->kill_len);
        break;
    case K_UP:
    case KEY_CTRL('P'):
        hist_move(le, -1);
        break;
    case K_DOWN:
    case KEY_CTRL('N'):
        hist_move(le, 1);
        break;
    case KEY_CTRL('I'):
        complete(le);
        break;
    case KEY_CTRL('L'):
        write_all(le->out, "\x1b[H\x1b[2J", 7);
        break;
    case KEY_CTRL('Z'): /* suspend as the shell's job control expects, then redraw */
        write_all(le->out, "\r\n", 2);
        raw_off(le);
        raise(SIGTSTP);
        if (raw_on(le) != 0) return 0;
        break;
    case K_PASTE: {
        int r = paste(le);
        if (r == K_EOF) return 0;
        if (r == K_INTR) return -1;
        break;
    }
    case K_CHAR:
        insert(le, k->u, (size_t)k->n);
        break;
    default:
        break; /* other control keys, Esc, unknown sequences */
    }
    return 2;
}

int le_read(lineedit *le, const char *prompt, const char **line, size_t *len) {
    fflush(stdout);
    fflush(stderr);
    le->prompt = prompt;
    le->prompt_w = prompt_width(prompt);
    set_line(le, "", 0);
    le->hist_idx = le->n_hist;
    le->ctrlc_armed = 0;
    if (raw_on(le) != 0) return 0;
    int r = 2, draw = 1;
    while (r == 2) {
        if (draw) refresh(le);
        draw = 1;
        key k;
        read_key(le, &k);
        if (k.code == K_CHAR && le->pos == le->len) {
            /* typed at the end of a line that still fits: print just the character */
            le->ctrlc_armed = 0;
            size_t before = le->len;
            insert(le, k.u, (size_t)k.n);
            int room = term_cols(le) - le->prompt_w - 1;
            if (le->len > before && cols_between(le, le->scroll, le->len) <= room) {
                outbuf o = {0};
                draw_text(&o, le->buf, le->len, before, le->len, room);
                write_all(le->out, o.s, o.n);
                free(o.s);
                draw = 0;
            }
            continue;
        }
        if (k.code == KEY_CTRL('R')) {
            int s = search(le, &k);
            if (s == 1) {
                r = 1;
                break;
            }
            if (s == K_EOF || s == K_INTR) {
                r = s == K_EOF ? 0 : -1;
                break;
            }
            if (k.code == 0) continue;
        }
        r = handle(le, &k);
    }
    if (r == 1 && le->pos != le->len) {
        le->pos = le->len;
        refresh(le);
    }
    write_all(le->out, "\r\n", 2);
    raw_off(le);
    if (r != 1) return r;
    *line = le->buf ? le->buf : "";
    *len = le->len;
    return 1;
}
