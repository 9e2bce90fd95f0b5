// paxsync-bench: paxsync's rates beside baselines measured in the same run on
// the same machine. Build both executables in release mode first:
//
//   swift build -c release
//   .build/release/paxsync-bench local [ROWS] [WRITES]   # import, peer apply, local writes (default 100000 500)
//   .build/release/paxsync-bench catchup [ROWS]          # a fresh node catching up over mTLS (default 1000000)
//   .build/release/paxsync-bench latency [WRITES]        # write → visibility across 5 nodes (default 300)
//   .build/release/paxsync-bench mesh [NODES] [WRITES]    # relay copies per entry in a full mesh (default 10 1000)
//   .build/release/paxsync-bench attack [WRITES]         # write → visibility under a handshake flood and junk batches (default 200)
//   .build/release/paxsync-bench import-memory [ROWS]    # peak RSS of paxsync import, refused and accepted (default 1000000)
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
let mode = arguments.first.flatMap { Int($0) == nil ? $0 : nil } ?? "local"
let numbers = arguments.compactMap { Int($0) }

do {
    switch mode {
    case "local": try localBench(rowCount: numbers.first ?? 100_000, writeCount: numbers.dropFirst().first ?? 500)
    case "catchup": try catchUpBench(rowCount: numbers.first ?? 1_000_000)
    case "latency":
        try latencyBench(writes: numbers.first ?? 300, wake: true)
        try latencyBench(writes: numbers.first ?? 300, wake: false)
    case "attack": try attackBench(writes: numbers.first ?? 200)
    case "mesh": try meshBench(nodes: numbers.first ?? 10, writes: numbers.dropFirst().first ?? 1000)
    case "import-memory": try importMemoryBench(rowCount: numbers.first ?? 1_000_000)
    default:
        print("usage: paxsync-bench [local [ROWS] [WRITES] | catchup [ROWS] | latency [WRITES] | attack [WRITES] | mesh [NODES] [WRITES] | import-memory [ROWS]]")
        exit(2)
    }
} catch {
    print("paxsync-bench: \(error)")
    exit(1)
}
