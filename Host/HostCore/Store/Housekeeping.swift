public import Logging
public import ServiceLifecycle

/// The store's periodic chores: webhook replay keys past any sender's retry window are forgotten, and
/// the audit trail's head (last id and hash) goes to the journal, so a copy lives outside the database:
/// a tail removed and the sealed head rolled back to an older copy still disagrees with the journal.
public struct Housekeeping: Service {
    let store: any EventIntake & AuditTrail
    let logger: Logger
    var interval: Duration = .seconds(600)
    /// The audit head is logged every this many runs (hourly), and at shutdown.
    var headEvery = 6

    public init(store: any EventIntake & AuditTrail, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var runs = 0
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                runs += 1
                await pruneReplays()
                if runs % headEvery == 0 { await logAuditHead() }
            }
        }
        await logAuditHead()
    }

    func pruneReplays() async {
        do {
            try await store.pruneWebhookReplays(olderThan: Store.now() - 7 * 86_400_000)
        } catch {
            logger.warning("cannot prune webhook replay keys", metadata: ["store.error": "\(error)"])
        }
    }

    func logAuditHead() async {
        guard let head = try? await store.auditHead() else { return }
        logger.notice("audit head", metadata: ["audit.head_id": "\(head.id)", "audit.head_hash": "\(head.hash)"])
    }
}
