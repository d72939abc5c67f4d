// Package nexmark is a source of the Nexmark benchmark's event stream
// (persons, auctions and bids of an online auction site), registered as
// "weir.nexmark".
//
// It ports nexmark-flink's generator (github.com/nexmark/nexmark,
// nexmark-flink/src/main/java/com/github/nexmark/flink/generator): event id
// n is a person if n mod 50 is 0, an auction if it is 1..3 and a bid
// otherwise (1:3:46); ids, hot sellers, bidders and auctions, prices,
// strings and padding follow that generator's formulas and defaults; the
// event time of a subtask's k-th event is BaseTime + k·p/Rate seconds.
// docs/nexmark.md lists every rule and where it comes from.
//
// Every event is a pure function of (Seed, event id, parallelism), so a
// reader's position is one number: the next event of its split. It is the
// reader's checkpointed state, so a restored job neither loses nor repeats
// events. Subtask i of p generates a contiguous range of event ids
// (nexmark-flink's split); the union over subtasks is the same ids, with the
// same contents apart from event times, for every parallelism.
package nexmark
