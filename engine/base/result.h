// Result<T> and Error: how rewoo reports failures that inputs can cause.
//
// A function that can fail because of a bad file, plan, grammar, URL or
// network reply returns Result<T>. The Error carries a message a user can act
// on: what went wrong, where (file, line:col, tensor name), what was expected.
// Broken invariants (programming errors) throw instead.
//
//   Result<Plan> r = parse_plan(text, registry);
//   if (!r) { fmt::print(stderr, "{}\n", r.error().to_string()); return 1; }
//   const Plan& plan = *r;
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace rewoo {

struct Error {
  std::string message;  // what went wrong and what was expected
  std::string where;    // optional location: "model.safetensors: tensor x", "3:14"

  Error() = default;
  explicit Error(std::string msg, std::string loc = {})
      : message(std::move(msg)), where(std::move(loc)) {}

  // "where: message", or just the message.
  std::string to_string() const { return where.empty() ? message : where + ": " + message; }

  // Adds outer context: Error("bad dtype").wrap("loading model") -> "loading model: bad dtype".
  Error wrap(const std::string& context) const {
    return Error(context + ": " + to_string());
  }
};

// Thrown by Result::value() on an error; carries the Error's text.
class BadResultAccess : public std::runtime_error {
 public:
  explicit BadResultAccess(const Error& e) : std::runtime_error(e.to_string()) {}
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { check(); return std::get<0>(v_); }
  const T& value() const& { check(); return std::get<0>(v_); }
  T&& value() && { check(); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const {
    if (ok()) throw std::logic_error("Result::error() called on a value");
    return std::get<1>(v_);
  }

 private:
  void check() const {
    if (!ok()) throw BadResultAccess(std::get<1>(v_));
  }
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), failed_(true) {}  // NOLINT
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const {
    if (ok()) throw std::logic_error("Result::error() called on success");
    return err_;
  }
  void value() const {
    if (!ok()) throw BadResultAccess(err_);
  }

 private:
  Error err_;
  bool failed_ = false;
};

using Status = Result<void>;

}  // namespace rewoo

// Propagates an error from an expression returning Result<...>.
#define REWOO_TRY(expr)                              \
  do {                                               \
    auto&& rewoo_try_r_ = (expr);                    \
    if (!rewoo_try_r_) return rewoo_try_r_.error();  \
  } while (0)
