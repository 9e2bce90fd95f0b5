import Foundation
import PaxsyncModel

/// Printing helpers: tables for people, JSON for scripts, progress on stderr.
enum Output {
    static func json<T: Encodable>(_ value: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try! encoder.encode(value)
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }

    /// A plain-text table with a header row and aligned columns.
    static func table(_ header: [String], _ rows: [[String]]) {
        print(render(header, rows), terminator: "")
    }

    /// The table as text, one line per row, each ending in a newline.
    static func render(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n") + "\n"
    }

    static func error(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}

/// A progress line on stderr: redrawn in place on a terminal, a line per
/// quarter otherwise, so logs of long runs still show movement.
final class Progress {
    private let label: String
    private let unit: String
    private let isTTY = isatty(2) != 0
    private var lastQuarter = -1
    private var lastDraw = Date.distantPast
    private let enabled: Bool

    init(_ label: String, unit: String, enabled: Bool = true) {
        self.label = label
        self.unit = unit
        self.enabled = enabled
    }

    func update(_ done: Int, _ total: Int?) {
        guard enabled else { return }
        if isTTY {
            guard Date().timeIntervalSince(lastDraw) > 0.1 || done == total else { return }
            lastDraw = Date()
            var text = "\r\(label): \(done)"
            if let total, total > 0 {
                let width = 30
                let filled = min(width, done * width / total)
                text += "/\(total) \(unit) [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] \(done * 100 / total)%"
            } else {
                text += " \(unit)"
            }
            FileHandle.standardError.write(Data(text.utf8))
        } else if let total, total > 0 {
            let quarter = done * 4 / total
            guard quarter != lastQuarter else { return }
            lastQuarter = quarter
            FileHandle.standardError.write(Data("\(label): \(done)/\(total) \(unit) (\(done * 100 / total)%)\n".utf8))
        }
    }

    func finish() {
        if enabled && isTTY { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
