/// The Swift actor a cell's run loop is isolated to. The loop, the behaviour's handlers and the mailbox
/// waits all run on this actor's executor, so an actor's message path has no executor hops.
actor CellHost {
    /// Builds the cell here (it never leaves this isolation) and runs its loop.
    func run<B: ActorBehavior>(props: Props<B>, mailbox: Mailbox<B.Message>, system: ActorSystem,
                               parent: (any SystemMessageTarget)?) async {
        let cell = ActorCell(props: props, mailbox: mailbox, system: system, parent: parent, host: self)
        await cell.run()
    }

    /// Suspends the cell's loop until its mailbox has work. Awaiting the continuation in a method
    /// statically isolated to this actor lets the runtime resume the loop directly on it.
    func waitForWork<M>(_ mailbox: Mailbox<M>, wantUser: Bool) async {
        await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
            if mailbox.parkConsumer(c, wantUser: wantUser) { c.resume() }
        }
    }
}
