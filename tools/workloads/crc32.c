/* Bitwise CRC-32 (reflected, poly 0xEDB88320) over a buffer, many rounds: branchy integer code. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

static uint32_t crc32_bitwise(const uint8_t *p, size_t n, uint32_t crc) {
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1));
    }
    return ~crc;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 40;
    size_t n = 1 << 16;
    uint8_t *buf = malloc(n);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) { x = x * 1103515245u + 12345u; buf[i] = x >> 24; }
    uint32_t crc = 0;
    for (int r = 0; r < rounds; r++)
        crc = crc32_bitwise(buf, n, crc);
    printf("crc32 %d rounds: %08x\n", rounds, crc);
    return 0;
}
