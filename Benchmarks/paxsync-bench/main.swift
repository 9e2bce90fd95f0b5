// paxsync-bench: paxsync's rates beside baselines measured in the same run on
// the same machine. Build both executables in release mode first:
//
//   swift build -c release
//   .build/release/paxsync-bench local [ROWS] [WRITES]   # import, peer apply, local writes (default 100000 500)
//   .build/release/paxsync-bench catchup [ROWS]          # a fresh node catching up over mTLS (default 1000000);
//                                                          # --fresh-dials: the fresh node dials (receives as the gRPC client)
//   .build/release/paxsync-bench latency [WRITES]        # write → visibility across 5 nodes (default 300)
//   .build/release/paxsync-bench mesh [NODES] [WRITES]    # relay copies per entry in a full mesh (default 10 1000;
//                                                          # also --nodes N --writes N)
//   .build/release/paxsync-bench pg [ROWS] [TRANSACTIONS] # beside PostgreSQL logical replication: copy and streaming
//                                                          # of TRANSACTIONS × 100 rows (default 1000000 10000)
//   .build/release/paxsync-bench attack [WRITES]         # write → visibility under a handshake flood and junk batches (default 200)
//   .build/release/paxsync-bench import-memory [ROWS]    # peak RSS of paxsync import, refused and accepted (default 1000000)
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
let mode = arguments.first.flatMap { Int($0) == nil && !$0.hasPrefix("--") ? $0 : nil } ?? "local"
/// `--NAME N` options, and the positional numbers that are not their values.
var options: [String: Int] = [:]
var numbers: [Int] = []
do {
    var index = 0
    while index < arguments.count {
        let argument = arguments[index]
        if argument.hasPrefix("--"), index + 1 < arguments.count, let value = Int(arguments[index + 1]) {
            options[String(argument.dropFirst(2))] = value
            index += 2
            continue
        }
        if let value = Int(argument) { numbers.append(value) }
        index += 1
    }
}

do {
    switch mode {
    case "local": try localBench(rowCount: numbers.first ?? 100_000, writeCount: numbers.dropFirst().first ?? 500)
    case "catchup": try catchUpBench(rowCount: numbers.first ?? 1_000_000, freshDials: arguments.contains("--fresh-dials"))
    case "latency":
        try latencyBench(writes: numbers.first ?? 300, wake: true)
        // Each write not rung waits for a heartbeat (5 s): a few show it.
        try latencyBench(writes: min(numbers.first ?? 300, 20), wake: false)
    case "attack": try attackBench(writes: numbers.first ?? 200)
    case "mesh": try meshBench(nodes: options["nodes"] ?? numbers.first ?? 10, writes: options["writes"] ?? numbers.dropFirst().first ?? 1000)
    case "pg": try pgBench(rowCount: options["rows"] ?? numbers.first ?? 1_000_000,
                           transactions: options["transactions"] ?? numbers.dropFirst().first ?? 10_000, perTransaction: 100)
    case "import-memory": try importMemoryBench(rowCount: numbers.first ?? 1_000_000)
    default:
        print("usage: paxsync-bench [local [ROWS] [WRITES] | catchup [ROWS] [--fresh-dials] | latency [WRITES] | attack [WRITES] | mesh [--nodes N] [--writes N] | pg [ROWS] [TRANSACTIONS] | import-memory [ROWS]]")
        exit(2)
    }
} catch {
    print("paxsync-bench: \(error)")
    exit(1)
}
