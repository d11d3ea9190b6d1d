// RAII owners of CUDA device and pinned host memory for the CUDA backend.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "engine/base/result.h"

namespace rewoo::engine::cuda {

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) { reset(); p_ = o.p_; n_ = o.n_; o.p_ = nullptr; o.n_ = 0; }
    return *this;
  }

  Status alloc(size_t n) {
    reset();
    if (n == 0) return {};
    const cudaError_t e = cudaMalloc(reinterpret_cast<void**>(&p_), n * sizeof(T));
    if (e != cudaSuccess) {
      p_ = nullptr;
      return Error("cudaMalloc of " + std::to_string(n * sizeof(T) >> 20) + " MiB failed: " +
                   cudaGetErrorString(e), "cuda");
    }
    n_ = n;
    return {};
  }
  Status upload(const T* h, size_t n) {
    if (n > n_) return Error("upload larger than the buffer", "cuda");
    const cudaError_t e = cudaMemcpy(p_, h, n * sizeof(T), cudaMemcpyHostToDevice);
    if (e != cudaSuccess) return Error(std::string("cudaMemcpy failed: ") + cudaGetErrorString(e), "cuda");
    return {};
  }
  void reset() {
    if (p_) cudaFree(p_);
    p_ = nullptr;
    n_ = 0;
  }
  T* get() const { return p_; }
  size_t size() const { return n_; }
  size_t bytes() const { return n_ * sizeof(T); }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

template <typename T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer() {
    if (p_) cudaFreeHost(p_);
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  Status alloc(size_t n) {
    if (p_) cudaFreeHost(p_);
    p_ = nullptr;
    const cudaError_t e = cudaMallocHost(reinterpret_cast<void**>(&p_), n * sizeof(T));
    if (e != cudaSuccess) return Error(std::string("cudaMallocHost failed: ") + cudaGetErrorString(e), "cuda");
    return {};
  }
  T* get() const { return p_; }

 private:
  T* p_ = nullptr;
};

}  // namespace rewoo::engine::cuda
