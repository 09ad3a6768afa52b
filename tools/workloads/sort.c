/* Pointer chasing through a shuffled linked list, then qsort of random keys. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

struct node { struct node *next; uint64_t value; };

static uint64_t rng = 88172645463325252ull;
static uint64_t xorshift(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int scale = argc > 1 ? atoi(argv[1]) : 4;
    size_t n = 1 << 18;
    struct node *nodes = malloc(n * sizeof *nodes);
    size_t *perm = malloc(n * sizeof *perm);
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n - 1; i > 0; i--) { size_t j = xorshift() % (i + 1); size_t t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
    for (size_t i = 0; i < n; i++) { nodes[perm[i]].next = &nodes[perm[(i + 1) % n]]; nodes[i].value = i * 7; }
    uint64_t sum = 0;
    struct node *p = &nodes[perm[0]];
    for (long k = 0; k < (long)n * 4 * scale; k++) { sum += p->value; p = p->next; }
    uint64_t *keys = malloc(n * sizeof *keys);
    for (int r = 0; r < scale; r++) {
        for (size_t i = 0; i < n; i++) keys[i] = xorshift();
        qsort(keys, n, sizeof *keys, cmp);
    }
    uint64_t check = 0;
    for (size_t i = 0; i < n; i += 1024) check ^= keys[i];
    printf("chase sum %llu, sorted check %016llx\n", (unsigned long long)sum, (unsigned long long)check);
    return 0;
}
