/* The trivial program for start-up time. */
#include <stdio.h>
int main(void) { puts("hello"); return 0; }
