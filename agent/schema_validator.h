// JSON Schema validation of function-call parameters (draft 2020-12 subset).
//
// The keywords are the ones the grammar engine turns into grammars: type
// (incl. "integer" and lists of types), enum, const, properties, required,
// additionalProperties (bool or schema), items, prefixItems, minItems,
// maxItems, minLength, maxLength (code points), pattern (RE2, unanchored
// search), minimum, maximum, exclusiveMinimum, exclusiveMaximum, anyOf,
// oneOf, allOf, $ref to "#", "#/$defs/..." or any "#/json/pointer", boolean
// schemas and OpenAPI's nullable. Annotations (title, description, default,
// examples, format, $comment, $schema, $id at the root, ...) are ignored.
// Any other keyword is an error naming it: a schema is never half checked.
//
//   auto v = SchemaValidator::compile(schema);          // Result<SchemaValidator>
//   auto problems = v->validate(instance);             // empty: valid
//   for (auto& p : problems) print(p.path, p.message); // "/filters/limit", "expected integer, got string"
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/base/result.h"

namespace rewoo::agent {

struct SchemaViolation {
  std::string path;     // JSON pointer into the instance ("" = the root)
  std::string message;  // what was expected
  std::string to_string() const { return (path.empty() ? "/" : path) + ": " + message; }
};

class SchemaValidator {
 public:
  // Checks the schema itself (known keywords, well-formed values, $refs that
  // resolve); errors name the keyword and its JSON pointer in the schema.
  static Result<SchemaValidator> compile(nlohmann::json schema);

  // Every violation found (empty when valid). Stops descending after the first
  // failure inside anyOf/oneOf branches, which only report their summary.
  std::vector<SchemaViolation> validate(const nlohmann::json& instance) const;
  bool is_valid(const nlohmann::json& instance) const { return validate(instance).empty(); }

  const nlohmann::json& schema() const { return schema_; }

 private:
  explicit SchemaValidator(nlohmann::json schema) : schema_(std::move(schema)) {}
  nlohmann::json schema_;
};

}  // namespace rewoo::agent
