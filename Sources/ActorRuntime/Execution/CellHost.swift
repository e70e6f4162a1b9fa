/// The Swift actor a cell's run loop is isolated to. The loop, the behaviour's handlers and the mailbox
/// waits all run on this actor's executor, so an actor's message path has no executor hops.
actor CellHost {
    /// Builds the cell here (it never leaves this isolation) and runs its loop.
    func run<B: ActorBehavior>(props: Props<B>, mailbox: Mailbox<B.Message>, system: ActorSystem,
                               parent: (any SystemMessageTarget)?) async {
        let cell = ActorCell(props: props, mailbox: mailbox, system: system, parent: parent)
        await cell.run(on: self)
    }
}
