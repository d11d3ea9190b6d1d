// JSON Schema -> GBNF: a grammar whose language is exactly the JSON texts
// (in the chosen whitespace style) that validate against the schema.
//
//   auto gbnf = schema_to_gbnf(schema);          // compact JSON by default
//   if (!gbnf) print(gbnf.error());              // e.g. "unsupported keyword 'multipleOf' at #/properties/n"
//
// Supported: type (all, arrays of types, `nullable`), enum, const, properties,
// required, additionalProperties (false / schema), items, prefixItems,
// minItems/maxItems, minLength/maxLength, pattern (see regex_to_gbnf.h),
// minimum/maximum/exclusiveMinimum/exclusiveMaximum (integers and decimals),
// anyOf, oneOf (as anyOf: a grammar cannot forbid matching two branches),
// allOf (merged), $ref to local `#/...` pointers incl. $defs/definitions
// (recursion allowed), boolean schemas. Annotations (title, description,
// default, examples, $comment, $schema, $id at the root, deprecated,
// readOnly, writeOnly) are ignored. Any other keyword is an error naming it.
//
// Objects with at most `any_order_limit` (at most 8) named properties accept
// them in any order (each at most once); larger ones in sorted key order (the
// order nlohmann::json keeps them in, and so the order a prompt rendering the
// schema lists them in). Numbers under bounds are written without exponent.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/base/result.h"

namespace rewoo::agent::grammar {

struct SchemaOptions {
  // GBNF for the space allowed around `{ } [ ] , :`; empty = compact JSON.
  // E.g. "[ \\t\\n]*" or "\" \"?".
  std::string whitespace;
  int any_order_limit = 6;
  // Most characters in a string the schema does not bound (no maxLength,
  // pattern, enum or const); 0: unbounded. A bound guarantees that sampling
  // from a model with random weights ends.
  int max_string_chars = 0;
  // Most digits in the integer part and in the fraction of an unconstrained
  // number, and exponents of at most 2 digits; 0: unbounded. (A model with
  // random weights may also write a number no parser can hold.)
  int max_number_digits = 0;
  // Objects that declare properties, have no additionalProperties and
  // declare every required key take only their declared keys (function-call
  // parameters: a model should not invent any). Applied after allOf, anyOf
  // and $ref are merged, so keys a sibling declares stay allowed.
  bool close_declared_objects = false;
};

Result<std::string> schema_to_gbnf(const nlohmann::json& schema, const SchemaOptions& opts = {});

class SchemaConverter;

// Several schemas in one grammar (function-call grammars):
//   SchemaGrammarBuilder b;
//   auto params = b.add_schema(schema);            // GBNF expression, or nullopt if nothing validates
//   std::string gbnf = b.build("\"{\" ... " + **params + " ...");
class SchemaGrammarBuilder {
 public:
  explicit SchemaGrammarBuilder(SchemaOptions opts = {});
  ~SchemaGrammarBuilder();
  SchemaGrammarBuilder(const SchemaGrammarBuilder&) = delete;
  SchemaGrammarBuilder& operator=(const SchemaGrammarBuilder&) = delete;

  // An expression for the JSON texts valid under `schema` ($refs resolve
  // within it); nullopt when none is.
  Result<std::optional<std::string>> add_schema(const nlohmann::json& schema);
  // Adds a rule (deduplicated by body); returns its name.
  std::string add_rule(const std::string& name_hint, const std::string& body);
  std::string json_string();  // rule for any JSON string
  std::string never();        // rule that matches nothing
  // The grammar text: "root ::= <root_body>" and every rule added.
  std::string build(const std::string& root_body) const;

 private:
  std::unique_ptr<SchemaConverter> impl_;
};

}  // namespace rewoo::agent::grammar
