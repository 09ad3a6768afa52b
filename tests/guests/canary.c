/* Negative control: one check that cannot hold, so the output must end in FAIL. */
#include "rt.h"

int main(void)
{
    volatile u64 one = 1;
    print("canary: checking that 1 == 2\n");
    CHECK_EQ(one, 2, "canary");
    return 0;
}
