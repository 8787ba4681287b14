/// The invocations of one call into a function, in queue order; never empty.
///
/// A batch of one, what every function that does not batch and every
/// lightly loaded one gets, holds its invocation without an array, so
/// handing it to an instance allocates nothing.
struct Batch: RandomAccessCollection, Sendable {
    private enum Storage: Sendable {
        case one(Invocation)
        case many([Invocation])
    }

    private let storage: Storage

    init(_ invocation: Invocation) {
        storage = .one(invocation)
    }

    /// `invocations` must not be empty.
    init(_ invocations: [Invocation]) {
        precondition(!invocations.isEmpty, "a batch holds at least one invocation")
        storage = invocations.count == 1 ? .one(invocations[0]) : .many(invocations)
    }

    var startIndex: Int { 0 }

    var endIndex: Int {
        switch storage {
        case .one: 1
        case .many(let invocations): invocations.count
        }
    }

    subscript(position: Int) -> Invocation {
        switch storage {
        case .one(let invocation):
            precondition(position == 0, "index out of range")
            return invocation
        case .many(let invocations):
            return invocations[position]
        }
    }

    /// The batch whose first invocation is this batch's: an invocation is
    /// in one batch at a time, so this identifies a batch.
    func isSame(as other: Batch) -> Bool { self[0] === other[0] }
}
