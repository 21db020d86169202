/* Compiled twins of interplay_verl/verify/parse.py (ASCII solution text -> predicted graph)
 * and compare.py (predicted vs gold graph -> errors).
 *
 * Why: the reward runs once per rollout, and Python costs ~2 us per solution step
 * (the target: <= 25 us per call at op 15-20). This file makes one pass over the bytes.
 *
 * The Python modules stay the definition. This scanner implements the same grammar for the
 * forms that decide a step (names, letters, "so", integers, linear forms in x) and hands the
 * rest back to Python helpers (decimals, long numbers, "1_000", anything odd in a value), so
 * both give identical graphs; tests/test_native.py checks that on gold traces, their
 * mutations and random text. Non-ASCII text is never seen here: parse.py keeps it (Unicode
 * digits, case folding and whitespace are Python's business).
 *
 * Every loop moves forward or is bounded by a constant (names <= 200, numbers <= 400 digits,
 * expressions <= 2000 characters), so time is linear in the input.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#ifndef SOURCE_SHA256 /* setup.py passes the sha256 of this file */
#define SOURCE_SHA256 "unknown"
#endif

#define MAX_NAME 200
#define MAX_DIGITS 400
#define MAX_EXPR 2000
#define FAST_DIGITS 15 /* longer integers go through Python's int() */
#define MAX_OPERANDS 64 /* room for parse.MAX_OPERANDS */

static PyObject *NodeType;   /* parse.PredictedNode, a NamedTuple (parents, value, linear) */
static PyObject *ValueOf;    /* parse._value_of(str) -> (value, linear) */
static PyObject *ParseNumber; /* parse.parse_number(str) */
static PyObject *Unbound;    /* parse.UNBOUND */
static PyObject *TooMany;    /* parse.TOO_MANY */
static Py_ssize_t MaxOperands; /* parse.MAX_OPERANDS */
static PyObject *HiddenLinear; /* (1, 0): the hidden quantity is x itself */

typedef const unsigned char *buf_t;

static inline int is_ws(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13) || (c >= 28 && c <= 31); }
static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_alpha(unsigned char c) { return (c | 32) >= 'a' && (c | 32) <= 'z'; }
static inline int is_word(unsigned char c) { return is_alpha(c) || is_digit(c) || c == '_'; }
static inline unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static inline Py_ssize_t skip_ws(buf_t s, Py_ssize_t i, Py_ssize_t n) {
    while (i < n && is_ws(s[i])) i++;
    return i;
}

/* s[i:] starts with the lower-case literal, ignoring case */
static int starts_ci(buf_t s, Py_ssize_t i, Py_ssize_t n, const char *lit) {
    for (; *lit; lit++, i++)
        if (i >= n || lower(s[i]) != (unsigned char)*lit) return 0;
    return 1;
}

/* [-+]?\d{1,400}(?:\.\d{1,400})? at i, greedy like the regex: its end, or -1 */
static Py_ssize_t scan_number(buf_t s, Py_ssize_t i, Py_ssize_t n) {
    Py_ssize_t j;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    for (j = i; j < n && j - i < MAX_DIGITS && is_digit(s[j]); j++) {}
    if (j == i) return -1;
    if (j + 1 < n && s[j] == '.' && is_digit(s[j + 1])) {
        Py_ssize_t k;
        for (k = j + 1; k < n && k - (j + 1) < MAX_DIGITS && is_digit(s[k]); k++) {}
        j = k;
    }
    return j;
}

/* a number matched by scan_number -> int (fast) or parse_number(text) */
static PyObject *number(PyObject *text, buf_t s, Py_ssize_t a, Py_ssize_t b) {
    Py_ssize_t i = a;
    int neg = 0;
    if (s[i] == '-' || s[i] == '+') neg = s[i++] == '-';
    if (b - i <= FAST_DIGITS) {
        long long v = 0;
        Py_ssize_t j;
        for (j = i; j < b && is_digit(s[j]); j++) v = v * 10 + (s[j] - '0');
        if (j == b) return PyLong_FromLongLong(neg ? -v : v);
    }
    PyObject *sub = PyUnicode_Substring(text, a, b);
    if (!sub) return NULL;
    PyObject *r = PyObject_CallOneArg(ParseNumber, sub);
    Py_DECREF(sub);
    return r;
}

/* The numbers a solution states, each the last match (findall(...)[-1]) of its pattern:
 *   tag:      <answer>\s*NUM\s*</answer>
 *   line:     answer\s*:\s*NUM
 *   solution: solution\s*:\s*x\s*=\s*NUM       (case-insensitive, like parse.py on text.lower())
 * Matches of one pattern never overlap, so the last occurrence that matches is findall's last.
 * memchr finds the rare anchors '<' and ':'; "answer"/"solution" are checked backwards from ':'.
 * Also finds where the steps end (the first "</solution>"). */
typedef struct { Py_ssize_t a, b; } span_t;

static int ends_ci(buf_t s, Py_ssize_t end, const char *lit, Py_ssize_t len) {
    return end >= len && starts_ci(s, end - len, end, lit);
}

static void scan_marks(buf_t s, Py_ssize_t n, span_t *tag, span_t *line, span_t *sol, Py_ssize_t *cut) {
    const unsigned char *p;
    Py_ssize_t i = 0;
    tag->a = line->a = sol->a = -1;
    *cut = n;
    while (i < n && (p = memchr(s + i, '<', n - i))) {
        i = p - s;
        if (*cut == n && starts_ci(s, i, n, "</solution>")) *cut = i;
        if (starts_ci(s, i, n, "<answer>")) {
            Py_ssize_t a = skip_ws(s, i + 8, n), b = scan_number(s, a, n);
            if (b >= 0 && starts_ci(s, skip_ws(s, b, n), n, "</answer>")) { tag->a = a; tag->b = b; }
        }
        i++;
    }
    i = 0;
    while (i < n && (p = memchr(s + i, ':', n - i))) {
        Py_ssize_t colon = p - s, k = colon, a, b;
        i = colon + 1;
        while (k > 0 && is_ws(s[k - 1])) k--;
        a = skip_ws(s, colon + 1, n);
        if (ends_ci(s, k, "answer", 6)) {
            if ((b = scan_number(s, a, n)) >= 0) { line->a = a; line->b = b; }
        } else if (ends_ci(s, k, "solution", 8) && a < n && lower(s[a]) == 'x') {
            a = skip_ws(s, a + 1, n);
            if (a < n && s[a] == '=') {
                a = skip_ws(s, a + 1, n);
                if ((b = scan_number(s, a, n)) >= 0) { sol->a = a; sol->b = b; }
            }
        }
    }
}

static PyObject *number_at(PyObject *text, buf_t s, span_t sp) {
    if (sp.a < 0) Py_RETURN_NONE;
    return number(text, s, sp.a, sp.b);
}

/* parse.normalize_name on s[a:b]: lower case, runs of whitespace -> one space,
 * strip " ." at both ends, then drop a leading "the " and then "number of " */
static PyObject *normalize_name(buf_t s, Py_ssize_t a, Py_ssize_t b) {
    char stack[MAX_NAME + 1];
    Py_ssize_t n = 0, i = a, start = 0;
    while (i < b) {
        i = skip_ws(s, i, b);
        if (i >= b) break;
        if (n) stack[n++] = ' ';
        while (i < b && !is_ws(s[i])) stack[n++] = (char)lower(s[i++]);
    }
    while (n > start && (stack[n - 1] == ' ' || stack[n - 1] == '.')) n--;
    while (start < n && (stack[start] == ' ' || stack[start] == '.')) start++;
    if (n - start >= 4 && memcmp(stack + start, "the ", 4) == 0) start += 4;
    if (n - start >= 10 && memcmp(stack + start, "number of ", 10) == 0) start += 10;
    return PyUnicode_FromStringAndSize(stack + start, n - start);
}

typedef struct {
    int ok;              /* 0: not a linear form (None) */
    int delegate;        /* 1: outside the fast grammar, ask Python */
    long long coef, offset;
} linear_t;

static inline int add_ok(long long *acc, long long k) { return !__builtin_add_overflow(*acc, k, acc); }

/* parse.parse_linear on s[a:b] (already stripped as parse_linear strips it) */
static linear_t parse_linear(buf_t s, Py_ssize_t a, Py_ssize_t b) {
    linear_t r = {0, 0, 0, 0};
    Py_ssize_t pos = a;
    if (a >= b) return r;
    while (pos < b) {
        Py_ssize_t p = skip_ws(s, pos, b), q;
        unsigned char sign = 0;
        int has_x = 0;
        long long k = 0;
        if (p < b && (s[p] == '+' || s[p] == '-')) sign = s[p++];
        p = skip_ws(s, p, b);
        for (q = p; q < b && q - p < MAX_DIGITS && is_digit(s[q]); q++) {}
        if (q - p > FAST_DIGITS) { r.delegate = 1; return r; }
        for (Py_ssize_t j = p; j < q; j++) k = k * 10 + (s[j] - '0');
        Py_ssize_t ndig = q - p;
        p = skip_ws(s, q, b);
        if (p < b && s[p] == '*') {
            Py_ssize_t t = skip_ws(s, p + 1, b);
            if (t < b && s[t] == 'x') { has_x = 1; p = t + 1; }
        } else if (p < b && s[p] == 'x') {
            has_x = 1;
            p++;
        }
        p = skip_ws(s, p, b);
        if (p == pos || (!ndig && !has_x) || (pos > a && !sign)) return r;
        if (!ndig) k = 1;
        if (sign == '-') k = -k;
        if (!add_ok(has_x ? &r.coef : &r.offset, k)) { r.delegate = 1; return r; }
        pos = p;
    }
    r.ok = 1;
    return r;
}

/* parse._value_of on text[a:b] (parts[-1][:2000]): (value, linear), new references */
static int value_of(PyObject *text, buf_t s, Py_ssize_t a, Py_ssize_t b, PyObject **value, PyObject **linear) {
    Py_ssize_t i = skip_ws(s, a, b), j = b, k;
    int digits = 0, has_x = 0;
    while (j > i && is_ws(s[j - 1])) j--;
    for (k = i; k < j; k++) {
        digits |= is_digit(s[k]);
        has_x |= s[k] == 'x';
    }
    *value = NULL;
    *linear = NULL;
    if (!digits && !has_x) { /* int(), the number pattern and parse_linear all need one */
        *value = Py_NewRef(Py_None);
        *linear = Py_NewRef(Py_None);
        return 0;
    }
    k = i + (i < j && (s[i] == '-' || s[i] == '+'));
    if (j > k && j - k <= FAST_DIGITS) {
        Py_ssize_t d = k;
        while (d < j && is_digit(s[d])) d++;
        if (d == j) { /* what int() accepts first: a plain integer */
            *value = number(text, s, i, j);
            *linear = Py_NewRef(Py_None);
            return *value ? 0 : -1;
        }
    }
    if (has_x) { /* int() and the number pattern fail on "x"; strip as _value_of + parse_linear do */
        for (int round = 0; round < 2; round++) {
            while (j > i && is_ws(s[j - 1])) j--;
            while (i < j && is_ws(s[i])) i++;
            while (j > i && s[j - 1] == '.') j--;
            while (j > i && is_ws(s[j - 1])) j--;
        }
        linear_t lin = parse_linear(s, i, j);
        if (!lin.delegate) {
            *value = Py_NewRef(Py_None);
            *linear = lin.ok ? Py_BuildValue("(LL)", lin.coef, lin.offset) : Py_NewRef(Py_None);
            return *linear ? 0 : -1;
        }
    }
    PyObject *sub = PyUnicode_Substring(text, a, b);
    if (!sub) return -1;
    PyObject *pair = PyObject_CallOneArg(ValueOf, sub);
    Py_DECREF(sub);
    if (!pair) return -1;
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
        Py_DECREF(pair);
        PyErr_SetString(PyExc_TypeError, "_value_of must return a pair");
        return -1;
    }
    *value = Py_NewRef(PyTuple_GET_ITEM(pair, 0));
    *linear = Py_NewRef(PyTuple_GET_ITEM(pair, 1));
    Py_DECREF(pair);
    return 0;
}

/* the quantities behind the isolated letters of s[a:b]: a new tuple; (TooMany,) past MaxOperands */
static PyObject *operands(buf_t s, Py_ssize_t a, Py_ssize_t b, PyObject **binding) {
    PyObject *found[MAX_OPERANDS];
    Py_ssize_t count = 0;
    for (Py_ssize_t i = a; i < b; i++) {
        if (!is_alpha(s[i]) || (i > a && is_alpha(s[i - 1])) || (i + 1 < b && is_alpha(s[i + 1]))) continue;
        PyObject *bound = binding[s[i]];
        Py_ssize_t m = bound ? PyTuple_GET_SIZE(bound) : 1;
        if (count + m > MaxOperands) return PyTuple_Pack(1, TooMany);
        for (Py_ssize_t j = 0; j < m; j++) found[count++] = bound ? PyTuple_GET_ITEM(bound, j) : Unbound;
    }
    PyObject *t = PyTuple_New(count);
    if (!t) return NULL;
    for (Py_ssize_t j = 0; j < count; j++) PyTuple_SET_ITEM(t, j, Py_NewRef(found[j]));
    return t;
}

/* sorted(names) as a tuple: insertion sort, parents are a handful of strings (<= MaxOperands) */
static PyObject *sorted_tuple(PyObject *names) {
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    PyObject *items[MAX_OPERANDS];
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyTuple_GET_ITEM(names, i);
        Py_ssize_t j = i;
        while (j > 0 && PyUnicode_Compare(items[j - 1], v) > 0) { items[j] = items[j - 1]; j--; }
        items[j] = v;
    }
    PyObject *t = PyTuple_New(n);
    if (!t) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) PyTuple_SET_ITEM(t, i, Py_NewRef(items[i]));
    return t;
}

static PyObject *make_node(PyObject *parents, PyObject *value, PyObject *linear) {
    PyTypeObject *type = (PyTypeObject *)NodeType;
    PyObject *node = type->tp_alloc(type, 3);
    if (!node) return NULL;
    PyTuple_SET_ITEM(node, 0, Py_NewRef(parents));
    PyTuple_SET_ITEM(node, 1, Py_NewRef(value));
    PyTuple_SET_ITEM(node, 2, Py_NewRef(linear));
    return node;
}

/* value = coef * x + offset where the step wrote a linear form and x is known */
static PyObject *evaluate(PyObject *linear, PyObject *x) {
    PyObject *t = PyNumber_Multiply(PyTuple_GET_ITEM(linear, 0), x);
    if (!t) return NULL;
    PyObject *v = PyNumber_Add(t, PyTuple_GET_ITEM(linear, 1));
    Py_DECREF(t);
    return v;
}

/* the letter now stands for these names (a new reference, stolen) */
static void set_binding(PyObject **binding, unsigned char letter, PyObject *names) {
    Py_XSETREF(binding[letter], names);
}

/* One step, s[cs:ce] = the text after a word "define". Adds its node; 0, or -1 on error. */
static int parse_step(PyObject *text, buf_t s, Py_ssize_t cs, Py_ssize_t ce, PyObject *x,
                      PyObject **binding, PyObject *nodes) {
    /* \s*(\S(?:.{0,198}?\S)??)\s+as\s+([A-Za-z])\s*(?:;|,|$) */
    Py_ssize_t ns = skip_ws(s, cs, ce), e, limit, mend = -1;
    unsigned char letter = 0;
    if (ns >= ce) return 0;
    limit = ns + MAX_NAME < ce ? ns + MAX_NAME : ce - 1;
    for (e = ns + 1; e <= limit;) {
        if (!is_ws(s[e])) { e++; continue; }
        /* a name ending inside a whitespace run matches only where the run's start does */
        Py_ssize_t j = skip_ws(s, e, ce);
        if (j + 2 < ce && s[j] == 'a' && s[j + 1] == 's' && is_ws(s[j + 2])) {
            Py_ssize_t k = skip_ws(s, j + 2, ce);
            if (k < ce && is_alpha(s[k])) {
                Py_ssize_t t = skip_ws(s, k + 1, ce);
                if (t == ce || s[t] == ';' || s[t] == ',') {
                    letter = s[k];
                    mend = t == ce ? ce : t + 1;
                    break;
                }
            }
        }
        e = j;
    }
    if (mend < 0) return 0;
    PyObject *name = normalize_name(s, ns, e);
    if (!name) return -1;

    /* the step ends at its first full stop followed by whitespace or the end */
    Py_ssize_t rend = ce, i;
    for (i = mend; i < ce; i++)
        if (s[i] == '.' && (i + 1 == ce || is_ws(s[i + 1]))) { rend = i; break; }

    PyObject *parents = NULL, *value = NULL, *linear = NULL, *node = NULL, *names = NULL;
    int rc = -1;
    Py_ssize_t h = skip_ws(s, mend, rend);
    if (starts_ci(s, h, rend, "we don't know its valu")) {
        value = Py_NewRef(Py_None);
        linear = Py_NewRef(HiddenLinear);
        if (!(parents = PyTuple_New(0))) goto done;
    } else {
        PyObject *final_parents = NULL;
        for (Py_ssize_t a = mend; a <= rend;) {
            Py_ssize_t b = a;
            while (b < rend && s[b] != ';') b++;
            /* \s*(so\s+)?([A-Za-z])\s*=\s*(.*)  (case-insensitive "so") */
            Py_ssize_t p = skip_ws(s, a, b), eq = -1;
            unsigned char var = 0;
            int so = 0;
            if (p + 2 < b && lower(s[p]) == 's' && lower(s[p + 1]) == 'o' && is_ws(s[p + 2])) {
                Py_ssize_t v = skip_ws(s, p + 2, b);
                if (v < b && is_alpha(s[v])) {
                    Py_ssize_t q = skip_ws(s, v + 1, b);
                    if (q < b && s[q] == '=') { so = 1; var = s[v]; eq = q; }
                }
            } else if (p < b && is_alpha(s[p])) {
                Py_ssize_t q = skip_ws(s, p + 1, b);
                if (q < b && s[q] == '=') { var = s[p]; eq = q; }
            }
            if (eq >= 0) {
                /* the first expression names the operands; the last one is the value */
                Py_ssize_t x0 = skip_ws(s, eq + 1, b), f = x0, l = x0;
                while (f < b && s[f] != '=') f++;
                for (Py_ssize_t q = x0; q < b; q++)
                    if (s[q] == '=') l = q + 1;
                PyObject *used = operands(s, x0, f < x0 + MAX_EXPR ? f : x0 + MAX_EXPR, binding);
                if (!used) goto done_segments;
                if (var == letter && (so || !final_parents)) {
                    Py_XSETREF(final_parents, used);
                    Py_CLEAR(value);
                    Py_CLEAR(linear);
                    if (value_of(text, s, l, b < l + MAX_EXPR ? b : l + MAX_EXPR, &value, &linear) < 0) goto done_segments;
                } else {
                    set_binding(binding, var, used); /* a temporary stands for its operands */
                }
            }
            a = b + 1;
        }
        parents = final_parents ? sorted_tuple(final_parents) : PyTuple_New(0);
        if (!value) value = Py_NewRef(Py_None);
        if (!linear) linear = Py_NewRef(Py_None);
    done_segments:
        Py_XDECREF(final_parents);
        if (!parents) goto done;
    }
    if (value == Py_None && linear != Py_None && x != Py_None) {
        PyObject *v = evaluate(linear, x);
        if (!v) goto done;
        Py_SETREF(value, v);
    }
    names = PyTuple_Pack(1, name);
    if (!names) goto done;
    set_binding(binding, letter, names);
    node = make_node(parents, value, linear);
    if (!node || PyDict_SetItem(nodes, name, node) < 0) goto done;
    rc = 0;
done:
    Py_XDECREF(node);
    Py_XDECREF(parents);
    Py_XDECREF(value);
    Py_XDECREF(linear);
    Py_DECREF(name);
    return rc;
}

static PyObject *parse(PyObject *module, PyObject *text) {
    if (!NodeType) {
        PyErr_SetString(PyExc_RuntimeError, "_native.configure() was not called");
        return NULL;
    }
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "parse() takes a str");
        return NULL;
    }
    if (PyUnicode_READY(text) < 0) return NULL;
    if (!PyUnicode_IS_ASCII(text)) Py_RETURN_NONE; /* parse.py's business */
    buf_t s = (buf_t)PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), cut, i;
    PyObject *answer = NULL, *x = NULL, *xv = NULL, *nodes = NULL, *result = NULL;
    PyObject *binding[128] = {NULL};

    span_t tag, line, sol;
    scan_marks(s, n, &tag, &line, &sol, &cut);
    if (!(answer = number_at(text, s, tag.a >= 0 ? tag : line))) goto done;
    if (!(x = number_at(text, s, sol))) goto done;
    xv = x != Py_None ? x : answer;
    if (!(nodes = PyDict_New())) goto done;
    /* steps: the text after each word "define" (any case) up to the next one */
    Py_ssize_t start = -1;
    for (i = 0; i + 6 <= cut; i++) {
        if (lower(s[i]) != 'd' || (i && is_word(s[i - 1])) || !starts_ci(s, i, cut, "define")) continue;
        if (i + 6 >= cut || !is_ws(s[i + 6])) { i += 5; continue; }
        if (start >= 0 && parse_step(text, s, start, i, xv, binding, nodes) < 0) goto done;
        start = i + 6;
        i += 5;
    }
    if (start >= 0 && parse_step(text, s, start, cut, xv, binding, nodes) < 0) goto done;
    result = PyTuple_Pack(3, answer, x, nodes);
done:
    for (i = 0; i < 128; i++) Py_XDECREF(binding[i]);
    Py_XDECREF(answer);
    Py_XDECREF(x);
    Py_XDECREF(nodes);
    return result;
}

/* compare.compare's loop: (missing, extra, wrong_value, wrong_parents) name lists */
static PyObject *compare(PyObject *module, PyObject *args) {
    PyObject *pred, *gold, *key, *want, *missing, *extra = NULL, *wrong_value, *wrong_parents, *out = NULL;
    Py_ssize_t pos = 0, found = 0;
    if (!PyArg_ParseTuple(args, "O!O!", &PyDict_Type, &pred, &PyDict_Type, &gold)) return NULL;
    missing = PyList_New(0);
    wrong_value = PyList_New(0);
    wrong_parents = PyList_New(0);
    if (!missing || !wrong_value || !wrong_parents) goto done;
    while (PyDict_Next(gold, &pos, &key, &want)) {
        PyObject *node = PyDict_GetItemWithError(pred, key);
        int ne;
        if (!node) {
            if (PyErr_Occurred() || PyList_Append(missing, key) < 0) goto done;
            continue;
        }
        found++;
        if (!PyTuple_Check(node) || PyTuple_GET_SIZE(node) != 3 || !PyTuple_Check(want) || PyTuple_GET_SIZE(want) != 2) {
            PyErr_SetString(PyExc_TypeError, "compare(pred: {name: PredictedNode}, gold: {name: (value, parents)})");
            goto done;
        }
        PyObject *value = PyTuple_GET_ITEM(node, 1);
        ne = value == Py_None ? 1 : PyObject_RichCompareBool(value, PyTuple_GET_ITEM(want, 0), Py_NE);
        if (ne < 0 || (ne && PyList_Append(wrong_value, key) < 0)) goto done;
        ne = PyObject_RichCompareBool(PyTuple_GET_ITEM(node, 0), PyTuple_GET_ITEM(want, 1), Py_NE);
        if (ne < 0 || (ne && PyList_Append(wrong_parents, key) < 0)) goto done;
    }
    if (!(extra = PyList_New(0))) goto done;
    if (PyDict_GET_SIZE(pred) > found) {
        pos = 0;
        while (PyDict_Next(pred, &pos, &key, &want)) {
            int in = PyDict_Contains(gold, key);
            if (in < 0 || (!in && PyList_Append(extra, key) < 0)) goto done;
        }
    }
    out = PyTuple_Pack(4, missing, extra, wrong_value, wrong_parents);
done:
    Py_XDECREF(missing);
    Py_XDECREF(extra);
    Py_XDECREF(wrong_value);
    Py_XDECREF(wrong_parents);
    return out;
}

static PyObject *configure(PyObject *module, PyObject *args) {
    PyObject *node_type, *value_of_fn, *parse_number_fn, *unbound, *too_many;
    Py_ssize_t max_operands;
    if (!PyArg_ParseTuple(args, "O!OOUUn", &PyType_Type, &node_type, &value_of_fn, &parse_number_fn, &unbound,
                          &too_many, &max_operands))
        return NULL;
    if (max_operands < 1 || max_operands > MAX_OPERANDS) {
        PyErr_Format(PyExc_ValueError, "max_operands must be in [1, %d]", MAX_OPERANDS);
        return NULL;
    }
    if (!PyType_IsSubtype((PyTypeObject *)node_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "node type must be a tuple subclass (a NamedTuple)");
        return NULL;
    }
    Py_XSETREF(NodeType, Py_NewRef(node_type));
    Py_XSETREF(ValueOf, Py_NewRef(value_of_fn));
    Py_XSETREF(ParseNumber, Py_NewRef(parse_number_fn));
    Py_XSETREF(Unbound, Py_NewRef(unbound));
    Py_XSETREF(TooMany, Py_NewRef(too_many));
    MaxOperands = max_operands;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_O,
     "parse(text) -> (answer, x, {name: PredictedNode}), or None for non-ASCII text."},
    {"compare", compare, METH_VARARGS,
     "compare(pred_nodes, gold_nodes) -> (missing, extra, wrong_value, wrong_parents)."},
    {"configure", configure, METH_VARARGS,
     "configure(node_type, value_of, parse_number, unbound, too_many, max_operands): the Python side."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, .m_name = "_native", .m_size = -1, .m_methods = methods};

PyMODINIT_FUNC PyInit__native(void) {
    HiddenLinear = Py_BuildValue("(ii)", 1, 0);
    if (!HiddenLinear) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddStringConstant(m, "SOURCE_SHA256", SOURCE_SHA256) < 0) Py_CLEAR(m);
    return m;
}
