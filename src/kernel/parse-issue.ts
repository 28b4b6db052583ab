import { Option, ParseResult, SchemaAST } from "effect"

/** The first thing wrong with a decoded input, reduced to what a person needs to fix it. */
export type Problem =
  | { readonly kind: "missing"; readonly path: ReadonlyArray<PropertyKey>; readonly expected: string }
  | { readonly kind: "unknown"; readonly path: ReadonlyArray<PropertyKey>; readonly found: unknown }
  | {
    readonly kind: "invalid"
    readonly path: ReadonlyArray<PropertyKey>
    readonly expected: string
    readonly found: unknown
  }

/** Walks a decode issue down to its first leaf, keeping the key path on the way. */
export const firstProblem = (
  issue: ParseResult.ParseIssue,
  path: ReadonlyArray<PropertyKey> = []
): Problem => {
  switch (issue._tag) {
    case "Pointer":
      return firstProblem(issue.issue, [...path, ...(Array.isArray(issue.path) ? issue.path : [issue.path])])
    case "Composite": {
      if (SchemaAST.isUnion(issue.ast)) {
        // An optional value (X | undefined) that is present failed as X: report X's own problem.
        const members = (Array.isArray(issue.issues) ? issue.issues : [issue.issues]) as ReadonlyArray<ParseResult.ParseIssue>
        const defined = members.filter((member) => !(member._tag === "Type" && SchemaAST.isUndefinedKeyword(member.ast)))
        if (issue.actual !== undefined && defined.length === 1 && defined.length < members.length) return firstProblem(defined[0]!, path)
        // Any other union (a literal set, "integer or numeric string") is one expectation, not several.
        return { kind: "invalid", path, expected: describe(issue.ast), found: issue.actual }
      }
      const first = Array.isArray(issue.issues) ? issue.issues[0] : issue.issues
      return first === undefined
        ? { kind: "invalid", path, expected: describe(issue.ast), found: issue.actual }
        : firstProblem(first, path)
    }
    case "Missing":
      return { kind: "missing", path, expected: describe(issue.ast.type) }
    case "Unexpected":
      return { kind: "unknown", path, found: issue.actual }
    case "Refinement":
      if (issue.kind === "From") return firstProblem(issue.issue, path)
      return { kind: "invalid", path, expected: refinementExpectation(issue), found: issue.actual }
    case "Transformation":
      return firstProblem(issue.issue, path)
    case "Type":
      return { kind: "invalid", path, expected: issue.message ?? describe(issue.ast), found: issue.actual }
    case "Forbidden":
      return { kind: "invalid", path, expected: describe(issue.ast), found: issue.actual }
  }
}

const refinementExpectation = (issue: ParseResult.Refinement): string => {
  const annotated = SchemaAST.getMessageAnnotation(issue.ast).pipe(
    Option.map((message) => message(issue)),
    Option.flatMap((message) => typeof message === "string" ? Option.some(message) : Option.none())
  )
  if (Option.isSome(annotated)) return annotated.value
  if (issue.issue._tag === "Type" && issue.issue.message !== undefined) return issue.issue.message
  return describe(issue.ast)
}

/** Names a type as it is written in a file: the encoded side of a transformation. */
const describe = (ast: SchemaAST.AST): string =>
  SchemaAST.isTransformation(ast) ? describe(ast.from) : String(ast)

/** A short, deterministic rendering of a found value for error messages. */
export const showValue = (found: unknown): string => {
  if (found === undefined) return "nothing"
  if (Array.isArray(found)) return "an array"
  if (typeof found === "object" && found !== null && !(found instanceof Date)) return "an object"
  const text = found instanceof Date ? found.toISOString() : JSON.stringify(found)
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

/** `path: expected X, found Y` (or missing / unknown key), for one-line error messages. */
export const describeProblem = (problem: Problem, show: (path: ReadonlyArray<PropertyKey>, found: unknown) => string = (_, found) => showValue(found)): string => {
  const key = problem.path.map(String).join(".") || "(top level)"
  switch (problem.kind) {
    case "missing":
      return `${key}: missing, expected ${problem.expected}`
    case "unknown":
      return `${key}: unknown key (found ${show(problem.path, problem.found)})`
    case "invalid":
      return `${key}: expected ${problem.expected}, found ${show(problem.path, problem.found)}`
  }
}
