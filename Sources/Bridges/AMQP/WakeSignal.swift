import CRabbitMQ
import Glibc

/// Lets other threads wake a connection thread blocked in `poll`: an eventfd polled beside the socket.
final class WakeSignal: Sendable {
    let fd: Int32

    init() { fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)) }
    deinit { close(fd) }

    func wake() { _ = eventfd_write(fd, 1) }

    /// Clears pending wake-ups.
    func drain() {
        var value: eventfd_t = 0
        _ = eventfd_read(fd, &value)
    }

    /// Waits until `socket` is readable, a wake-up arrives, or `milliseconds` pass.
    /// - Returns: true when the socket is readable.
    func wait(socket: Int32?, milliseconds: Int32) -> Bool {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        if let socket { fds.append(pollfd(fd: socket, events: Int16(POLLIN), revents: 0)) }
        let n = poll(&fds, nfds_t(fds.count), milliseconds)
        if fds[0].revents != 0 { drain() }
        return n > 0 && fds.count > 1 && fds[1].revents != 0
    }
}
