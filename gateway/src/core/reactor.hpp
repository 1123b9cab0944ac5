// Postern core: the reactor. Every open connection of every listener waits
// in one epoll set; a worker thread takes a connection only when it has a
// request ready, and gives it back afterwards. Front ends keep pools of
// idle connections open (nginx `keepalive`, mod_jk's pool); none of them
// holds a thread, so they can never starve the workers.
//
// The worker threads themselves wait in epoll_wait (leader/followers):
// registrations are EPOLLONESHOT, so each readiness goes to exactly one
// worker and no hand-off between a reactor thread and a worker is needed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <sys/socket.h>

#include "core/address_list.hpp"
#include "core/connection.hpp"
#include "postern/server.hpp"

namespace postern {

class Reactor {
  public:
    Reactor(const Limits& limits, const AddressList& allow);
    ~Reactor();
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    /// Adds a bound, listening socket; `name` is for log lines
    /// ("fastcgi=127.0.0.1:9000"). `unix_path` is removed on stop when
    /// `remove_path` (false: another process owns the socket file). Before
    /// start() only.
    /// `status_slot`: the listener's slot on the status board, -1 for none.
    void add_listener(int fd, std::unique_ptr<Protocol> protocol, std::string name,
                      bool unix_socket, std::string unix_path, bool remove_path = true,
                      int status_slot = -1);

    /// Unix-socket peers allowed by uid or gid (Options::allow_uids,
    /// allow_gids); both empty allows any. Before start() only.
    void allow_unix_peers(std::vector<unsigned> uids, std::vector<unsigned> gids);

    void start(unsigned threads);
    /// Stops accepting, closes idle connections, lets requests in flight
    /// finish within `drain`, then closes everything and joins the threads.
    void stop(std::chrono::milliseconds drain);

    /// Open connections (for tests and status).
    std::size_t connections() const;

  private:
    struct Source;
    struct ListenerSource;
    struct ConnectionSource;

    void worker_loop();
    void sweeper_loop();
    void accept_ready(ListenerSource& l);
    ConnectionSource* set_up(ListenerSource& l, int fd, const sockaddr_storage& peer);
    void serve(ConnectionSource& c);
    /// Adds the connection to the epoll set, or re-arms it there.
    void watch(ConnectionSource& c);
    void close_connection(ConnectionSource* c);

    Limits limits_;
    AddressList allow_;
    std::vector<unsigned> allow_uids_;
    std::vector<unsigned> allow_gids_;
    int epoll_fd_ = -1;
    int wake_fd_ = -1;
    // Kept open to be given up when accept fails for lack of descriptors.
    std::mutex reserve_mutex_;
    int reserve_fd_ = -1;
    std::vector<std::unique_ptr<ListenerSource>> listeners_;
    std::vector<std::thread> threads_;
    std::thread sweeper_;

    mutable std::mutex mutex_;
    std::condition_variable idle_cv_;   // draining: signalled as connections close
    std::condition_variable sweep_cv_;  // wakes the sweeper to stop
    std::unordered_map<ConnectionSource*, std::unique_ptr<ConnectionSource>> connections_;
    std::atomic<std::size_t> busy_{0};
    std::atomic<bool> draining_{false};
    bool stopping_ = false;
    std::atomic<bool> accepting_{true};
};

}  // namespace postern
