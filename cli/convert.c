/* convert.c — `gptc convert DIR [-o OUT.gguf] [--outtype auto|f32|f16|bf16|q8_0]`: a Hugging Face
 * checkpoint folder (gpt-oss or GPT-2) to one GGUF file, like llama.cpp's convert_hf_to_gguf.py.
 * Exit codes: 0 done, 1 bad usage, 2 unreadable, malformed or unsupported checkpoint, 3 write
 * error (full disk, ...). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char USAGE[] =
    "usage: gptc convert DIR [-o OUT.gguf] [--outtype auto|f32|f16|bf16|q8_0] [-q]\n"
    "Converts a Hugging Face checkpoint folder to GGUF: config.json, *.safetensors (sharded with\n"
    "model.safetensors.index.json or not), tokenizer.json, and the chat template of\n"
    "tokenizer_config.json or chat_template.jinja. Architectures: GptOssForCausalLM (also\n"
    "OpenAI's MXFP4 expert layout, *_blocks/*_scales, kept as MXFP4 bit for bit) and\n"
    "GPT2LMHeadModel. Tensor names, shapes, types and metadata keys are those llama.cpp's\n"
    "convert_hf_to_gguf.py writes.\n"
    "  -o, --outfile FILE  output (default: DIR/NAME-OUTTYPE.gguf, NAME = folder name)\n"
    "  --outtype T         type of the weight matrices: f32, f16, bf16, q8_0, or auto (default:\n"
    "                      f16 when the checkpoint's first tensor is f16, else bf16). Norms,\n"
    "                      biases, sinks, routers and position embeddings stay f32; q8_0 falls\n"
    "                      back to f16 for rows that are not a multiple of 32.\n"
    "  -q, --quiet         no per-tensor lines\n"
    "  -h, --help          show this help\n"
    "Exit status: 0 ok, 1 bad usage, 2 unreadable, malformed or unsupported checkpoint,\n"
    "3 write error.\n";

int cli_convert(int argc, char **argv) {
    const char *dir = NULL, *out = NULL, *type = "auto";
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return EXIT_DONE;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--outfile") || !strcmp(a, "--outtype")) {
            if (i + 1 >= argc) {
                cli_error("convert: %s needs a value (see gptc convert --help)", a);
                return EXIT_USAGE;
            }
            if (!strcmp(a, "--outtype"))
                type = argv[++i];
            else
                out = argv[++i];
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            cli_error("convert: unknown option '%s' (see gptc convert --help)", a);
            return EXIT_USAGE;
        } else if (dir) {
            cli_error("convert: more than one folder given ('%s' and '%s')", dir, a);
            return EXIT_USAGE;
        } else {
            dir = a;
        }
    }
    if (!dir) {
        cli_error("convert: no checkpoint folder given (usage: gptc convert DIR [-o OUT.gguf])");
        return EXIT_USAGE;
    }
    static const struct {
        const char *name;
        int type;
    } types[] = {{"auto", GPTC_CONVERT_AUTO},
                 {"f32", GPTC_CONVERT_F32},
                 {"f16", GPTC_CONVERT_F16},
                 {"bf16", GPTC_CONVERT_BF16},
                 {"q8_0", GPTC_CONVERT_Q8_0}};
    int t = -1;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(type, types[i].name)) t = types[i].type;
    if (t < 0) {
        cli_error("convert: --outtype '%s' is not one of auto, f32, f16, bf16, q8_0", type);
        return EXIT_USAGE;
    }
    char def[4096];
    if (!out) {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/') n--;
        const char *base = dir;
        for (size_t i = 0; i < n; i++)
            if (dir[i] == '/') base = dir + i + 1;
        int bl = (int)(n - (size_t)(base - dir));
        if (bl == 0 || (bl == 1 && base[0] == '.') || (bl == 2 && !strncmp(base, "..", 2))) {
            base = "model";
            bl = 5;
        }
        snprintf(def, sizeof def, "%.*s/%.*s-%s.gguf", (int)n, dir, bl, base, type);
        out = def;
    }
    gptc_convert_params p = {dir, out, t, quiet ? NULL : stderr};
    gptc_error err;
    gptc_status st = gptc_convert(&p, &err);
    if (st != GPTC_OK) return cli_fail(st, &err);
    return EXIT_DONE;
}
