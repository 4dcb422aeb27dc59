/* tests/programs/inlined_leak.cpp — a C++ program built with -O2 whose one leak goes through calls
 * the compiler inlines: main → Trainer::step → make_activation → cudaMalloc, the two inner ones
 * forced inline. A symbolizer that ignores inlining shows the leak in `main` alone; the reports
 * must show make_activation, Trainer::step and main, each with its own file:line. The tests find
 * those lines by the `SITE:` marks below. Prints one deterministic line.
 */
#include <cstdio>
#include <vector>

#include "cuda_check.h"

struct Tensor {
    void *data;
    size_t bytes;
};

static inline __attribute__((always_inline)) Tensor make_activation(size_t bytes)
{
    Tensor tensor = {nullptr, bytes};
    CHECK_CUDA(cudaMalloc(&tensor.data, bytes)); /* SITE: make_activation */
    return tensor;
}

class Trainer {
public:
    explicit Trainer(size_t width) : width_(width) {}

    inline __attribute__((always_inline)) Tensor step()
    {
        steps_++;
        return make_activation(width_ * sizeof(float) * steps_); /* SITE: Trainer::step */
    }

private:
    size_t width_;
    size_t steps_ = 0;
};

int main()
{
    std::vector<Tensor> kept; /* libstdc++ in use, as in any C++ program: the exit report demangles */
    Trainer trainer(1 << 18);
    kept.push_back(trainer.step()); /* SITE: main */
    std::printf("inlined_leak: left %zu bytes allocated\n", kept.back().bytes);
    return 0;
}
