import ArgumentParser
import ConnectorProtocol
import Foundation
import HostAdmin

#if canImport(Glibc)
import Glibc
#endif

/// Reads a secret value from standard input: never from argv, where every user could see it.
/// A terminal gets a prompt without echo; a pipe is read whole, one trailing newline dropped.
func readSecretValue(prompt: String) throws -> String {
    var value: String
    if isatty(STDIN_FILENO) != 0 {
        value = try readHiddenLine(prompt: prompt)
    } else {
        value = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        if value.hasSuffix("\r\n") { value.removeLast(2) } else if value.hasSuffix("\n") { value.removeLast() }
    }
    guard !value.isEmpty else { throw ValidationError("the secret value on standard input is empty") }
    return value
}

/// The terminal's settings while a secret is typed, put back by the SIGINT handler (which can
/// capture nothing). Written once, before the handler is installed.
nonisolated(unsafe) private var terminalBeforePrompt = termios()

/// A line typed without echo. Ctrl-C aborts (exit 130) and stores nothing: glibc's getpass turns
/// ISIG off, so Ctrl-C became a ^C byte in the secret (and `rotate` replaced the live one with it).
func readHiddenLine(prompt: String) throws -> String {
    var original = termios()
    guard tcgetattr(STDIN_FILENO, &original) == 0 else { throw ValidationError("cannot read the terminal's settings") }
    terminalBeforePrompt = original
    var hidden = original
    hidden.c_lflag &= ~tcflag_t(ECHO)
    hidden.c_lflag |= tcflag_t(ISIG | ICANON)
    signal(SIGINT) { _ in
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &terminalBeforePrompt)
        _ = write(STDERR_FILENO, "\naborted: nothing was stored\n", 30)
        _exit(130)
    }
    // A parent may have blocked SIGINT (the mask survives exec): Ctrl-C must reach the handler.
    var interrupt = sigset_t()
    sigemptyset(&interrupt)
    sigaddset(&interrupt, SIGINT)
    sigprocmask(SIG_UNBLOCK, &interrupt, nil)
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &hidden)
    FileHandle.standardError.write(Data(prompt.utf8))
    defer {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &original)
        signal(SIGINT, SIG_DFL)
        FileHandle.standardError.write(Data("\n".utf8))
    }
    guard let line = readLine(strippingNewline: true) else { throw ValidationError("no value was typed") }
    return line
}

struct Secret: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Credentials in the daemon's vault, sealed with AES-256-GCM; a plugin reads only its own connector's.",
        subcommands: [Set.self, Rotate.self, List.self, Delete.self]
    )

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stores a secret for a connector. The value is read from standard input, never from the command line.",
            discussion: "Example: printf %s \"$KEY\" | hostctl secret set stripe-eu api_key"
        )
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The connector id.") var connector: String
        @Argument(help: "The secret's name, as the connector's config refers to it.") var name: String

        func run() throws {
            try store(options: options, connector: connector, name: name, rotate: false)
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replaces an existing secret with a new value (from standard input); its version goes up.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The connector id.") var connector: String
        @Argument(help: "The secret's name.") var name: String

        func run() throws {
            try store(options: options, connector: connector, name: name, rotate: true)
        }
    }

    static func store(options: GlobalOptions, connector: String, name: String, rotate: Bool) throws {
        let value = try readSecretValue(prompt: "value of \(connector)/\(name): ")
        let client = try options.connect()
        let result = try options.call(client, AdminMethod.secretSet, SecretSetParams(connector: connector, name: name, value: value, rotate: rotate), as: SecretSetResult.self)
        if options.json { return options.printJSON(result) }
        print("\(rotate ? "rotated" : "stored") \(result.connector)/\(result.name), version \(result.version)")
        if let warning = result.warning { warn("warning: \(warning)") }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Secret names, versions and ages; never their values.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Only this connector's.") var connector: String?

        func run() throws {
            let client = try options.connect()
            let secrets = try options.call(client, AdminMethod.secretList, SecretListParams(connector: connector), as: [SecretInfo].self)
            if options.json { return options.printJSON(secrets) }
            if secrets.isEmpty { return print("no secrets") }
            let now = Date().timeIntervalSince1970
            print(table(
                ["CONNECTOR", "NAME", "VERSION", "AGE", "UPDATED BY"],
                secrets.map { [$0.connector, $0.name, String($0.version), duration(now - Double($0.updatedAt) / 1000), $0.updatedBy] }
            ))
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deletes a secret.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The connector id.") var connector: String
        @Argument(help: "The secret's name.") var name: String

        func run() throws {
            let client = try options.connect()
            let result = try options.call(client, AdminMethod.secretDelete, SecretRef(connector: connector, name: name), as: SecretRef.self)
            if options.json { return options.printJSON(result) }
            print("deleted \(result.connector)/\(result.name)")
        }
    }
}

struct VaultCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault",
        abstract: "The vault itself.",
        subcommands: [Rekey.self]
    )

    struct Rekey: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Seals every secret again under a new master key, and replaces the key file.")
        @OptionGroup var options: GlobalOptions

        func run() throws {
            let client = try options.connect()
            let result = try options.call(client, AdminMethod.vaultRekey, EmptyParams(), as: VaultRekeyResult.self)
            if options.json { return options.printJSON(result) }
            print("rekeyed: \(result.secrets) secret(s) sealed under the new master key in \(result.keyFile)")
            if let notice = result.notice { warn("notice: \(notice)") }
        }
    }
}

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The audit trail.",
        subcommands: [Verify.self]
    )

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Checks the audit chain: edited, inserted or deleted rows. Exit status 0 when intact, 1 when not.",
            discussion: "Keep the printed head (id and hash) somewhere else: comparing it later also reveals a truncated tail."
        )
        @OptionGroup var options: GlobalOptions

        func run() throws {
            let client = try options.connect()
            let result = try options.call(client, AdminMethod.auditVerify, EmptyParams(), as: AuditVerification.self)
            if options.json {
                options.printJSON(result)
            } else {
                for problem in result.problems { print("\(problem.kind): \(problem.message)") }
                print("\(result.ok ? "intact" : "TAMPERED"): \(result.rows) row(s), \(result.authenticated) authenticated with the vault's audit key, \(result.problems.count) problem(s)")
                if let id = result.headID, let hash = result.headHash { print("head: row \(id) \(hash)") }
            }
            if !result.ok { throw ExitCode(1) }
        }
    }
}
