/**
 * One Prometheus text page from several: the primary's own metrics as they are, then every worker's
 * with the label `beds_worker="{n}"` added to each sample, so that no two processes' series collide
 * and a query sums them (`sum without (beds_worker) (...)`). The text format wants all samples of a
 * family together under one `# HELP` and `# TYPE`: pages are merged family by family, keeping the
 * first page's header lines of each family.
 */
export const mergePrometheus = (own: string, workers: ReadonlyArray<{ readonly worker: number; readonly text: string }>): string => {
  const families = new Map<string, { header: Array<string>; samples: Array<string> }>()
  const add = (text: string, label: string | undefined) => {
    let family: { header: Array<string>; samples: Array<string> } | undefined
    let headerOf: string | undefined
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue
      const header = /^# (HELP|TYPE|UNIT) (\S+)/.exec(line)
      if (header !== null) {
        const name = header[2]!
        family = families.get(name)
        if (family === undefined) {
          family = { header: [], samples: [] }
          families.set(name, family)
          headerOf = name
        } else if (headerOf !== name) {
          headerOf = undefined // a family seen on an earlier page: its header is already there
        }
        if (headerOf === name) family.header.push(line)
        continue
      }
      if (line.startsWith("#")) continue
      if (family === undefined) {
        family = { header: [], samples: [] }
        families.set("", family)
      }
      family.samples.push(label === undefined ? line : withLabel(line, label))
    }
  }
  add(own, undefined)
  for (const { text, worker } of workers) add(text, `beds_worker="${worker}"`)
  return [...families.values()].map(({ header, samples }) => [...header, ...samples].join("\n")).join("\n\n") + "\n"
}

/** `name{a="b"} 1` -> `name{beds_worker="2",a="b"} 1`; `name 1` -> `name{beds_worker="2"} 1`. */
const withLabel = (line: string, label: string) => {
  const brace = line.indexOf("{")
  const space = line.indexOf(" ")
  if (brace >= 0 && (space < 0 || brace < space)) {
    const empty = line[brace + 1] === "}"
    return `${line.slice(0, brace + 1)}${label}${empty ? "" : ","}${line.slice(brace + 1)}`
  }
  return space < 0 ? line : `${line.slice(0, space)}{${label}}${line.slice(space)}`
}
