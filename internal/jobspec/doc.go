// Package jobspec reads job specs: YAML (or JSON) files that describe a job
// graph of registered functions, for jobs that need no Go code of their own.
//
//	name: wordcount
//	parallelism: 2                  # default for operators
//	maxParallelism: 128
//	config: {execution.checkpointing.interval: 1s}
//	operators:
//	  - id: lines                   # referenced by inputs; the operator's name and uid
//	    source: weir.file.source    # exactly one of source, map, flatMap, filter, reduce, process, sink
//	    params: {path: /data/text.txt}
//	    parallelism: 1              # optional
//	  - id: words
//	    flatMap: wordcount.tokenize
//	    input: lines                # forward
//	  - id: counts
//	    reduce: wordcount.sum
//	    input: {from: words, keyBy: wordcount.word}   # or {from: words, rebalance: true}
//	  - id: out
//	    sink: weir.print
//	    input: counts
//
// Event time and windows: a timestamps operator assigns event timestamps
// with a registered timestamp assigner and makes watermarks; reduce,
// aggregate and process take a window; count and sum are built-in
// aggregates for records of any type (sum over params.field), and
// weir.window.format renders their results as window_start,key,value:
//
//   - id: stamped
//     timestamps: window-wordcount.event-time
//     watermarks: {outOfOrderness: 2s, idleness: 1m}   # both optional
//     input: words
//   - id: counts
//     aggregate: count                # or sum with params: {field: Price}
//     window: {tumbling: 10s}         # {sliding: 10s, slide: 5s}, {session: 30s};
//     # also offset, time: processing,
//     # allowedLateness: 1s, lateSideOutput: true
//     input: {from: stamped, keyBy: window-wordcount.word}
//   - id: late
//     sink: weir.print
//     input: {from: counts, sideOutput: late}
//
// Operator i of the spec is operator i of the graph; params are encoded as
// the JSON parameters of the function. When parallelism or maxParallelism
// is absent, parallelism.default or pipeline.max-parallelism from config
// applies, then the defaults (1 and 128). Config keys are checked against
// the configuration registry and must be ones a job may set.
//
// Errors name the field by its path in the spec, for example
//
//	operators[2] ("counts").input.from: unknown operator "wrds"
package jobspec
