// Owners of libmicrohttpd's handles (see handles.h for the rule).
#pragma once

#include <microhttpd.h>

#include <memory>

namespace granary {

struct MhdStop {
  void operator()(MHD_Daemon* d) const { MHD_stop_daemon(d); }
};
struct MhdResponseDestroy {
  void operator()(MHD_Response* r) const { MHD_destroy_response(r); }
};
using MhdDaemon = std::unique_ptr<MHD_Daemon, MhdStop>;
using MhdResponse = std::unique_ptr<MHD_Response, MhdResponseDestroy>;

}  // namespace granary
