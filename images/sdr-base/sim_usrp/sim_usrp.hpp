// A simulated USRP: a UHD device whose samples go through the run's channel emulator.
//
// libuhd loads this library from UHD_MODULE_PATH, which radiops sets only in the
// containers of roles whose radio is simulated (RADIOPS_RADIO_SIMULATED=true);
// find() answers nothing without that variable, so on a node with a real radio
// nothing of the simulation is active even if the path were set.
//
// Time: the device clock counts samples at the run's sample rate from the moment
// the device is opened (wall ticks, W); device time is W plus an offset that
// set_time_now / set_time_next_pps move. The transmitter sends the emulator one
// sample per tick, zeros between bursts; the receiver reads the emulator no
// faster than one sample per tick. The emulator itself is lock-step (sample
// counts, not wall time), so the medium keeps the exact spacing of what was sent.
//
// Pacing (RADIOPS_RADIO_PACING): "realtime" (the default) is the above, W from
// the steady clock. "fast" drives W by the samples themselves: W is what the
// medium delivered to the receiver (or, on a radio that only transmits, what the
// emulator accepted from the transmitter), so the run goes as fast as the CPUs
// allow. A receiver holds the medium while the application has not read its
// samples (rather than overflowing); a transmitter in a burst waits for the
// application's next samples (rather than underflowing), each up to STALL_S of
// wall time; send() and a streaming recv() wait for the medium however long it
// takes (FAST_WAIT_S at most), whatever their timeout; a transmitter with
// nothing queued sends silence at real-time pace, so an application that
// schedules a burst ahead of the clock finds it still ahead when it sends.
#pragma once

#include <uhd/stream.hpp>
#include <uhd/types/metadata.hpp>
#include <uhd/types/stream_cmd.hpp>
#include <uhd/types/time_spec.hpp>
#include <atomic>
#include <chrono>
#include <complex>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace radiops_sim {

using cf = std::complex<float>;

// What the runner tells a simulated role's container (site/scenarios.md).
struct settings_t
{
    bool simulated = false;
    double rate    = 0.0; // RADIOPS_RADIO_RATE: the emulator's one rate
    double frequency = 0.0; // RADIOPS_RADIO_FREQUENCY: the tuning the emulator's links assume
    double gain      = 0.0; // RADIOPS_RADIO_GAIN: the gain the path loss assumes
    std::string antenna; // RADIOPS_RADIO_ANTENNA: the port wired to the medium ("" = every port)
    std::string type; // RADIOPS_RADIO_TYPE, the type UHD finds it by (sim: radiops-sim)
    std::string serial; // RADIOPS_RADIO_SERIAL
    std::string node; // RADIOPS_NODE
    std::string uhd_args; // UHD_ARGS
    std::string tx_endpoint; // RADIOPS_CHANNEL_TX
    std::string rx_endpoint; // RADIOPS_CHANNEL_RX
    bool fast = false; // RADIOPS_RADIO_PACING=fast (else realtime)

    static settings_t from_env();
};

// The device clock: samples since the device was opened, plus a settable offset.
class device_clock
{
public:
    device_clock(double rate, bool fast);
    double rate() const
    {
        return _rate;
    }
    bool fast() const
    {
        return _fast;
    }
    int64_t elapsed() const; // steady-clock ticks since open
    int64_t wall() const; // W: ticks since open (fast: as driven by the samples)
    void drive(int64_t w); // fast: the medium has reached wall tick w
    int64_t now(); // device time in ticks
    int64_t offset(); // device time minus W
    void set_now(int64_t ticks);
    void set_next_pps(int64_t ticks);
    int64_t last_pps();
    uhd::time_spec_t to_spec(int64_t w); // device time of wall tick w
    int64_t to_wall(const uhd::time_spec_t& spec); // wall tick of a device time

private:
    void _apply_pps_locked(int64_t wall);
    double _rate;
    bool _fast;
    std::atomic<int64_t> _driven{0};
    std::chrono::steady_clock::time_point _t0;
    std::mutex _mutex;
    int64_t _offset = 0;
    bool _pps_pending = false;
    int64_t _pps_edge = 0, _pps_value = 0;
};

// How one direction is tuned, relative to what the emulator's links assume.
struct tuning_t
{
    double shift_hz = 0.0; // our centre frequency minus the scenario's
    double scale    = 1.0; // amplitude: gain relative to the scenario's, 0 if the port is not wired
};

// Tuning changes keyed by the wall tick they take effect at (timed commands).
class tuning_schedule
{
public:
    void set(int64_t at_wall, const tuning_t& tuning); // at_wall < 0: at once
    // apply changes up to wall tick w; the next change's tick or INT64_MAX
    int64_t advance(int64_t w, tuning_t& current);

private:
    std::mutex _mutex;
    std::multimap<int64_t, tuning_t> _pending;
};

// Mixes a block in place: scale and frequency shift, phase continuous in wall ticks.
void mix(cf* samples, size_t n, int64_t w, const tuning_t& tuning, double rate, double sign);

class async_queue
{
public:
    void push(const uhd::async_metadata_t& md);
    bool pop(uhd::async_metadata_t& md, double timeout);

private:
    std::mutex _mutex;
    std::condition_variable _cv;
    std::deque<uhd::async_metadata_t> _queue;
};

// Converting the host's sample formats: fc32 (as is) and sc16 (full scale 32767).
enum class cpu_format { fc32, sc16 };
cpu_format parse_cpu_format(const std::string& name);

// The transmit side: bursts queued by send(), pushed to the emulator at one sample per tick.
class tx_engine
{
public:
    // drives: in fast pacing, this engine's samples advance the clock
    tx_engine(std::shared_ptr<device_clock> clock, const std::string& endpoint, bool drives);
    ~tx_engine();
    size_t send(const void* buff, cpu_format format, size_t n, const uhd::tx_metadata_t& md,
        double timeout);
    tuning_schedule schedule;
    async_queue async;

private:
    struct chunk
    {
        bool timed = false;
        int64_t w  = 0;
        bool eob   = false;
        std::vector<cf> samples;
        size_t used = 0;
    };
    void _run();
    void _run_fast();
    bool _push(const cf* samples, size_t n);
    enum class fill_mode { pad, skip, until_dry };
    size_t _fill(cf* out, size_t n, int64_t k, fill_mode mode);
    void _event(uhd::async_metadata_t::event_code_t code, int64_t w);
    void _drain();
    void _await(double seconds);

    std::shared_ptr<device_clock> _clock;
    std::string _endpoint;
    bool _drives;
    void* _context = nullptr;
    void* _socket  = nullptr;
    std::mutex _mutex;
    std::condition_variable _cv;
    std::deque<chunk> _queue;
    size_t _queued     = 0; // samples in _queue not yet sent
    size_t _capacity   = 0; // what the "device buffer" holds before send() blocks
    bool _in_burst     = false;
    bool _underflowing = false;
    bool _dropping     = false; // a late burst's remaining packets are dropped to its end
    uint64_t _pushes   = 0; // messages handed to the emulator's socket
    std::atomic<bool> _running{true};
    std::thread _thread;
};

// Bytes this network namespace still owes peers on TCP port `port` (at least 1
// while only the FIN is owed), from the kernel's socket tables; 0 when delivered.
size_t undelivered(int port);

// The receive side: the emulator's samples, kept while a stream command asks for them.
class rx_engine
{
public:
    // in fast pacing, the samples it receives advance the clock
    rx_engine(std::shared_ptr<device_clock> clock, const std::string& endpoint);
    ~rx_engine();
    void issue(const uhd::stream_cmd_t& cmd);
    size_t recv(void* buff, cpu_format format, size_t n, uhd::rx_metadata_t& md, double timeout,
        bool one_packet, size_t packet);
    tuning_schedule schedule;

private:
    struct block
    {
        int64_t w = 0;
        std::vector<cf> samples;
        size_t used = 0;
        bool sob    = false;
        bool eob    = false;
        uhd::rx_metadata_t::error_code_t error = uhd::rx_metadata_t::ERROR_CODE_NONE;
    };
    struct command
    {
        uhd::stream_cmd_t::stream_mode_t mode;
        uint64_t num_samps = 0;
        bool now           = true;
        int64_t w          = 0;
    };
    void _run();
    void _take(const cf* samples, size_t n, int64_t w);
    void _keep(const cf* samples, size_t n, int64_t w, bool sob, bool eob);
    void _error(uhd::rx_metadata_t::error_code_t code, int64_t w);
    bool _start_next(int64_t w);
    void _lagging(int64_t behind, int64_t w);

    std::shared_ptr<device_clock> _clock;
    std::string _endpoint;
    void* _context = nullptr;
    void* _socket  = nullptr;
    std::mutex _mutex;
    std::condition_variable _cv;
    std::deque<command> _commands;
    std::deque<block> _blocks;
    size_t _kept     = 0;
    size_t _capacity = 0;
    bool _active     = false; // a command is being served
    bool _first      = false; // the next sample kept starts a burst
    command _current{};
    uint64_t _left      = 0; // samples left of a NUM_SAMPS command
    bool _overflowing   = false;
    bool _stalled       = false; // fast: the application left the medium waiting for STALL_S
    std::atomic<bool> _running{true};
    std::thread _thread;
};

} // namespace radiops_sim
