// The simulated USRP as a UHD device: discovery, the property tree multi_usrp and
// uhd_usrp_probe read, and the streamers (see sim_usrp.hpp).
#include "sim_usrp.hpp"
#include <uhd/device.hpp>
#include <uhd/exception.hpp>
#include <uhd/property_tree.hpp>
#include <uhd/types/ranges.hpp>
#include <uhd/types/sensors.hpp>
#include <uhd/usrp/mboard_eeprom.hpp>
#include <uhd/usrp/subdev_spec.hpp>
#include <uhd/utils/static.hpp>
#include <uhd/version.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace radiops_sim {
namespace {

const char* const DEVICE_NAME = "Simulated USRP (radiops channel emulator)";
constexpr size_t PACKET       = 2040; // samples per packet, as a USB USRP (sc16)
const double MIN_FREQ = 10e6, MAX_FREQ = 6e9;
const double NOMINAL_RATE = 1e6; // without RADIOPS_RADIO_RATE (no emulator)
const double MAX_GAIN  = 90.0;
const double GAIN_STEP = 0.5; // multi_usrp's gain groups round to the step: never 0

// The keys an experiment's device arguments may use to pick this radio.
const char* const IDENTITY[] = {"type", "serial", "addr", "name"};

uhd::device_addr_t identity(const settings_t& s)
{
    uhd::device_addr_t addr;
    addr["type"]    = s.type;
    addr["serial"]  = s.serial.empty() ? "SIM" : s.serial;
    addr["product"] = "simulated";
    if (not s.node.empty())
        addr["name"] = s.node;
    const uhd::device_addr_t given(s.uhd_args);
    if (given.has_key("addr"))
        addr["addr"] = given["addr"];
    return addr;
}

uhd::device_addrs_t find_sim(const uhd::device_addr_t& hint)
{
    const settings_t s = settings_t::from_env();
    if (not s.simulated)
        return {};
    const uhd::device_addr_t found = identity(s);
    for (const char* key : IDENTITY) {
        if (hint.has_key(key) and (not found.has_key(key) or hint[key] != found[key]))
            return {};
    }
    return {found};
}

// One direction's front end: what the tree holds, turned into a tuning of the samples.
struct frontend
{
    double rf_freq  = 0.0;
    double dsp_freq = 0.0;
    double gain     = 0.0;
    std::string antenna;
    double sign = 1.0; // the DSP's sign: RX +1 (rf - dsp), TX -1 (rf + dsp)

    tuning_t tuning(const settings_t& s) const
    {
        tuning_t t;
        t.shift_hz       = rf_freq - sign * dsp_freq - s.frequency;
        const bool wired = s.antenna.empty() or antenna == s.antenna;
        t.scale          = wired ? std::pow(10.0, (gain - s.gain) / 20.0) : 0.0;
        return t;
    }
};

class sim_device;

#if UHD_VERSION >= 4110000
// UHD 4.11's streamers describe themselves per channel; this one has channel 0
uhd::device_addr_t stream_info(cpu_format format, size_t packet, size_t chan)
{
    if (chan != 0)
        throw uhd::index_error("the simulated USRP's streamers have one channel");
    uhd::device_addr_t info;
    info["cpu_format"]    = format == cpu_format::sc16 ? "sc16" : "fc32";
    info["max_num_samps"] = std::to_string(packet);
    return info;
}
#endif

class sim_rx_streamer : public uhd::rx_streamer
{
public:
    sim_rx_streamer(std::shared_ptr<rx_engine> engine, cpu_format format, size_t packet)
        : _engine(std::move(engine)), _format(format), _packet(packet)
    {
    }
    size_t get_num_channels() const override
    {
        return 1;
    }
    size_t get_max_num_samps() const override
    {
        return _packet;
    }
    size_t recv(const buffs_type& buffs, const size_t n, uhd::rx_metadata_t& md,
        const double timeout, const bool one_packet) override
    {
        return _engine->recv(buffs[0], _format, n, md, timeout, one_packet, _packet);
    }
    void issue_stream_cmd(const uhd::stream_cmd_t& cmd) override
    {
        _engine->issue(cmd);
    }
#if UHD_VERSION >= 4080000
    // UHD 4.8 gave every streamer RFNoC actions; like UHD's own streamers of
    // devices without RFNoC, this one has none
    void post_input_action(const std::shared_ptr<uhd::rfnoc::action_info>&, const size_t) override
    {
        throw uhd::not_implemented_error("the simulated USRP takes no RFNoC actions");
    }
#endif
#if UHD_VERSION >= 4110000
    uhd::device_addr_t get_stream_info(const size_t chan) const override
    {
        return stream_info(_format, _packet, chan);
    }
#endif

private:
    std::shared_ptr<rx_engine> _engine;
    cpu_format _format;
    size_t _packet;
};

class sim_tx_streamer : public uhd::tx_streamer
{
public:
    sim_tx_streamer(std::shared_ptr<tx_engine> engine, cpu_format format, size_t packet)
        : _engine(std::move(engine)), _format(format), _packet(packet)
    {
    }
    size_t get_num_channels() const override
    {
        return 1;
    }
    size_t get_max_num_samps() const override
    {
        return _packet;
    }
    size_t send(const buffs_type& buffs, const size_t n, const uhd::tx_metadata_t& md,
        const double timeout) override
    {
        return _engine->send(buffs[0], _format, n, md, timeout);
    }
    bool recv_async_msg(uhd::async_metadata_t& md, double timeout) override
    {
        return _engine->async.pop(md, timeout);
    }
#if UHD_VERSION >= 4080000
    void post_output_action(const std::shared_ptr<uhd::rfnoc::action_info>&, const size_t) override
    {
        throw uhd::not_implemented_error("the simulated USRP takes no RFNoC actions");
    }
#endif
#if UHD_VERSION >= 4110000
    uhd::device_addr_t get_stream_info(const size_t chan) const override
    {
        return stream_info(_format, _packet, chan);
    }
#endif

private:
    std::shared_ptr<tx_engine> _engine;
    cpu_format _format;
    size_t _packet;
};

class sim_device : public uhd::device
{
public:
    explicit sim_device(const uhd::device_addr_t& args) : _settings(settings_t::from_env())
    {
        _type = uhd::device::USRP;
        if (not(_settings.rate > 0)) // opened outside a run (a probe): nothing to stream to
            _settings.rate = NOMINAL_RATE;
        _clock   = std::make_shared<device_clock>(_settings.rate, _settings.fast);
        _tree    = uhd::property_tree::make();
        _rx.sign = 1.0;
        _tx.sign = -1.0;
        for (frontend* fe : {&_rx, &_tx}) {
            fe->rf_freq = _settings.frequency;
            fe->gain    = _settings.gain;
        }
        _rx.antenna = _settings.antenna.empty() ? "RX2" : _settings.antenna;
        _tx.antenna = _settings.antenna.empty() ? "TX/RX" : _settings.antenna;
        _build_tree(args);
        // On the air from the moment it is opened, as a radio: the emulator starts
        // time once every radio of the run is there, not when the first stream starts.
        if (not _settings.rx_endpoint.empty()) {
            _rx_engine = std::make_shared<rx_engine>(_clock, _settings.rx_endpoint);
            _rx_engine->schedule.set(-1, _rx.tuning(_settings));
        }
        if (not _settings.tx_endpoint.empty()) {
            // in fast pacing the receiver's samples drive the clock, if it has one
            const bool drives = _settings.rx_endpoint.empty();
            _tx_engine = std::make_shared<tx_engine>(_clock, _settings.tx_endpoint, drives);
            _tx_engine->schedule.set(-1, _tx.tuning(_settings));
        }
    }

    uhd::rx_streamer::sptr get_rx_stream(const uhd::stream_args_t& args) override
    {
        _check_stream_args(args, "RX");
        if (_settings.rx_endpoint.empty())
            throw uhd::runtime_error(
                "simulated USRP: this role's radio does not receive (RADIOPS_CHANNEL_RX is not "
                "set): give the role radio.direction rx or both");
        return std::make_shared<sim_rx_streamer>(
            _rx_engine, parse_cpu_format(args.cpu_format), _packet(args));
    }

    uhd::tx_streamer::sptr get_tx_stream(const uhd::stream_args_t& args) override
    {
        _check_stream_args(args, "TX");
        if (_settings.tx_endpoint.empty())
            throw uhd::runtime_error(
                "simulated USRP: this role's radio does not transmit (RADIOPS_CHANNEL_TX is "
                "not set): give the role radio.direction tx or both");
        return std::make_shared<sim_tx_streamer>(
            _tx_engine, parse_cpu_format(args.cpu_format), _packet(args));
    }

    bool recv_async_msg(uhd::async_metadata_t& md, double timeout) override
    {
        std::shared_ptr<tx_engine> engine;
        {
            std::lock_guard<std::mutex> lock(_mutex);
            engine = _tx_engine;
        }
        if (not engine) {
            std::this_thread::sleep_for(std::chrono::duration<double>(timeout));
            return false;
        }
        return engine->async.pop(md, timeout);
    }

private:
    static size_t _packet(const uhd::stream_args_t& args)
    {
        const size_t spp = args.args.cast<size_t>("spp", PACKET);
        return spp > 0 ? spp : PACKET;
    }

    static void _check_stream_args(const uhd::stream_args_t& args, const char* what)
    {
        parse_cpu_format(args.cpu_format);
        if (not args.otw_format.empty() and args.otw_format != "sc16"
            and args.otw_format != "sc12" and args.otw_format != "sc8")
            throw uhd::value_error(std::string("simulated USRP: ") + what
                                   + " wire format \"" + args.otw_format + "\" is not supported");
        for (size_t chan : args.channels)
            if (chan != 0)
                throw uhd::index_error(std::string("simulated USRP: ") + what + " channel "
                                       + std::to_string(chan)
                                       + " does not exist (the simulated radio has one)");
    }

    // A tuning change applies at the command time if one is set, else at once.
    void _retune(bool rx)
    {
        std::lock_guard<std::mutex> lock(_mutex);
        const int64_t at = _command_w;
        if (rx and _rx_engine)
            _rx_engine->schedule.set(at, _rx.tuning(_settings));
        if (not rx and _tx_engine)
            _tx_engine->schedule.set(at, _tx.tuning(_settings));
    }

    double _check_rate(double rate) const
    {
        if (std::abs(rate - _settings.rate) > 1e-6 * _settings.rate)
            throw uhd::value_error(
                (std::ostringstream() << "simulated USRP: the channel emulator of this run "
                                         "runs at "
                                      << _settings.rate / 1e6 << " Msps (the scenario's "
                                      << "radio.rate); " << rate / 1e6
                                      << " Msps is not available")
                    .str());
        return _settings.rate;
    }

    void _build_tree(const uhd::device_addr_t& args)
    {
        using uhd::fs_path;
        const settings_t& s = _settings;
        const uhd::device_addr_t id = identity(s);
        _tree->create<std::string>("/name").set(DEVICE_NAME);
        const fs_path mb = "/mboards/0";
        _tree->create<std::string>(mb / "name").set("simulated USRP");
        uhd::usrp::mboard_eeprom_t eeprom;
        eeprom["serial"]  = id["serial"];
        eeprom["name"]    = s.node;
        eeprom["product"] = "simulated (radiops channel emulator, not hardware)";
        _tree->create<uhd::usrp::mboard_eeprom_t>(mb / "eeprom").set(eeprom);
        _tree->create<std::string>(mb / "fw_version").set("simulated");
        _tree->create<std::string>(mb / "fpga_version").set("simulated");
        _tree->create<double>(mb / "tick_rate").set(args.cast<double>("master_clock_rate", s.rate));
        _tree->create<uhd::meta_range_t>(mb / "tick_rate/range")
            .set(uhd::meta_range_t(1e3, 1e9));
        _tree->create<double>(mb / "link_max_rate").set(1e9);

        // time
        auto clock = _clock;
        _tree->create<uhd::time_spec_t>(mb / "time/now")
            .set_publisher([clock] { return uhd::time_spec_t::from_ticks(clock->now(), clock->rate()); })
            .add_coerced_subscriber(
                [clock](const uhd::time_spec_t& t) { clock->set_now(t.to_ticks(clock->rate())); });
        _tree->create<uhd::time_spec_t>(mb / "time/pps")
            .set_publisher(
                [clock] { return uhd::time_spec_t::from_ticks(clock->last_pps(), clock->rate()); })
            .add_coerced_subscriber([clock](const uhd::time_spec_t& t) {
                clock->set_next_pps(t.to_ticks(clock->rate()));
            });
        _tree->create<uhd::time_spec_t>(mb / "time/cmd")
            .set(uhd::time_spec_t(0.0))
            .add_coerced_subscriber([this](const uhd::time_spec_t& t) {
                std::lock_guard<std::mutex> lock(_mutex);
                _command_w = t == uhd::time_spec_t(0.0) ? -1 : _clock->to_wall(t);
            });
        const std::vector<std::string> sources = {"internal", "external", "gpsdo"};
        for (const char* kind : {"time_source", "clock_source"}) {
            _tree->create<std::string>(mb / kind / "value")
                .set("internal")
                .set_coercer([sources](const std::string& v) {
                    if (std::find(sources.begin(), sources.end(), v) == sources.end())
                        throw uhd::value_error("simulated USRP: no source \"" + v + "\"");
                    return v;
                });
            _tree->create<std::vector<std::string>>(mb / kind / "options").set(sources);
        }
        _tree->create<uhd::sensor_value_t>(mb / "sensors/ref_locked")
            .set(uhd::sensor_value_t("Ref", true, "locked", "unlocked"));
        _tree->create<uhd::sensor_value_t>(mb / "sensors/simulated")
            .set(uhd::sensor_value_t("Simulated", true, "true", "false"));

        // one slot A, one RX and one TX front end "0"
        _tree->create<uhd::usrp::subdev_spec_t>(mb / "rx_subdev_spec")
            .set(uhd::usrp::subdev_spec_t("A:0"));
        _tree->create<uhd::usrp::subdev_spec_t>(mb / "tx_subdev_spec")
            .set(uhd::usrp::subdev_spec_t("A:0"));
        for (const char* dir : {"rx", "tx"}) {
            const bool rx     = std::string(dir) == "rx";
            frontend& fe      = rx ? _rx : _tx;
            const fs_path codec = mb / (std::string(dir) + "_codecs") / "A";
            _tree->create<std::string>(codec / "name").set("simulated codec");
            _tree->create<int>(codec / "gains"); // none: one gain stage, in the front end
            const fs_path afe = mb / (std::string(dir) + "_frontends") / "A";
            _tree->create<std::complex<double>>(afe / "dc_offset/value")
                .set(std::complex<double>(0, 0));
            _tree->create<std::complex<double>>(afe / "iq_balance/value")
                .set(std::complex<double>(0, 0));

            const fs_path dsp = mb / (std::string(dir) + "_dsps") / "0";
            _tree->create<double>(dsp / "rate/value")
                .set_coercer([this](double r) { return _check_rate(r); })
                .set(s.rate);
            _tree->create<uhd::meta_range_t>(dsp / "rate/range")
                .set(uhd::meta_range_t(s.rate, s.rate));
            _tree->create<double>(dsp / "freq/value")
                .set_coercer([s](double f) {
                    return uhd::meta_range_t(-s.rate / 2, s.rate / 2).clip(f);
                })
                .add_coerced_subscriber([this, &fe, rx](double f) {
                    fe.dsp_freq = f;
                    _retune(rx);
                })
                .set(0.0);
            _tree->create<uhd::meta_range_t>(dsp / "freq/range")
                .set(uhd::meta_range_t(-s.rate / 2, s.rate / 2));
            if (rx) {
                _tree->create<uhd::stream_cmd_t>(dsp / "stream_cmd")
                    .add_coerced_subscriber([this](const uhd::stream_cmd_t& cmd) {
                        std::shared_ptr<rx_engine> engine;
                        {
                            std::lock_guard<std::mutex> lock(_mutex);
                            engine = _rx_engine;
                        }
                        if (engine)
                            engine->issue(cmd);
                    });
            }

            const fs_path rf =
                mb / "dboards/A" / (std::string(dir) + "_frontends") / "0";
            _tree->create<std::string>(rf / "name")
                .set(std::string("Simulated ") + (rx ? "RX" : "TX") + " (channel emulator)");
            const uhd::meta_range_t freq_range(
                std::min(MIN_FREQ, s.frequency), std::max(MAX_FREQ, s.frequency));
            _tree->create<double>(rf / "freq/value")
                .set_coercer([freq_range](double f) { return freq_range.clip(f); })
                .add_coerced_subscriber([this, &fe, rx](double f) {
                    fe.rf_freq = f;
                    _retune(rx);
                })
                .set(fe.rf_freq);
            _tree->create<uhd::meta_range_t>(rf / "freq/range").set(freq_range);
            const uhd::meta_range_t gain_range(
                std::min(0.0, s.gain), std::max(MAX_GAIN, s.gain), GAIN_STEP);
            _tree->create<double>(rf / "gains/PGA/value")
                .set_coercer([gain_range](double g) { return gain_range.clip(g); })
                .add_coerced_subscriber([this, &fe, rx](double g) {
                    fe.gain = g;
                    _retune(rx);
                })
                .set(fe.gain);
            _tree->create<uhd::meta_range_t>(rf / "gains/PGA/range").set(gain_range);
            std::vector<std::string> antennas =
                rx ? std::vector<std::string>{"TX/RX", "RX2"} : std::vector<std::string>{"TX/RX"};
            if (not s.antenna.empty()
                and std::find(antennas.begin(), antennas.end(), s.antenna) == antennas.end())
                antennas.push_back(s.antenna);
            _tree->create<std::vector<std::string>>(rf / "antenna/options").set(antennas);
            _tree->create<std::string>(rf / "antenna/value")
                .set_coercer([antennas](const std::string& a) {
                    if (std::find(antennas.begin(), antennas.end(), a) == antennas.end())
                        throw uhd::value_error("simulated USRP: no antenna \"" + a + "\"");
                    return a;
                })
                .add_coerced_subscriber([this, &fe, rx](const std::string& a) {
                    fe.antenna = a;
                    _retune(rx);
                })
                .set(fe.antenna);
            _tree->create<double>(rf / "bandwidth/value")
                .set_coercer([s](double) { return s.rate; })
                .set(s.rate);
            _tree->create<uhd::meta_range_t>(rf / "bandwidth/range")
                .set(uhd::meta_range_t(s.rate, s.rate));
            _tree->create<std::string>(rf / "connection").set("IQ");
            _tree->create<bool>(rf / "enabled").set(true);
            _tree->create<bool>(rf / "use_lo_offset").set(false);
            _tree->create<uhd::sensor_value_t>(rf / "sensors/lo_locked")
                .set(uhd::sensor_value_t("LO", true, "locked", "unlocked"));
        }
    }

    settings_t _settings;
    std::shared_ptr<device_clock> _clock;
    std::mutex _mutex;
    frontend _rx, _tx;
    int64_t _command_w = -1; // wall tick of the command time; -1: none
    std::shared_ptr<rx_engine> _rx_engine;
    std::shared_ptr<tx_engine> _tx_engine;
};

// Printable ASCII other than quotes and backslashes, for a JSON string.
std::string plain(const std::string& text)
{
    std::string out;
    for (const char c : text)
        out += (c >= ' ' and c <= '~' and c != '"' and c != '\\') ? c : '?';
    return out;
}

// Tells the runner which libuhd the application opened the device with: it reads
// RADIOPS_RADIO_REPORT (a file in the container, set for simulated roles only)
// once the container has ended, and records it in the run's manifest.
void report_opened()
{
    const char* path = std::getenv("RADIOPS_RADIO_REPORT");
    if (path == nullptr or *path == '\0')
        return;
    const std::string partial = std::string(path) + ".partial";
    {
        std::ofstream out(partial, std::ios::trunc);
        out << "{\"device\": \"simulated USRP\", \"uhd_version\": \""
            << plain(uhd::get_version_string()) << "\", \"uhd_abi\": \""
            << plain(uhd::get_abi_string()) << "\"}\n";
        if (not out.flush())
            return; // no report is recorded as none: the run itself goes on
    }
    std::rename(partial.c_str(), path);
}

uhd::device::sptr make_sim(const uhd::device_addr_t& args)
{
    auto device = std::make_shared<sim_device>(args);
    report_opened();
    return device;
}

} // namespace
} // namespace radiops_sim

UHD_STATIC_BLOCK(register_radiops_sim_device)
{
    uhd::device::register_device(
        &radiops_sim::find_sim, &radiops_sim::make_sim, uhd::device::USRP);
}
