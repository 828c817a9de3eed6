/* Leveled logging to stderr: one line per event with a UTC timestamp, the
 * level and the component. The threshold comes from FILMLESS_LOG
 * (debug|info|warn|error|off; default info) or fl_log_set_level(). */
#ifndef FL_LOG_H
#define FL_LOG_H

enum fl_log_level { FL_LOG_DEBUG = 0, FL_LOG_INFO, FL_LOG_WARN, FL_LOG_ERROR, FL_LOG_OFF };

/* Parses a level name; returns -1 if unknown. */
int fl_log_level_parse(const char *name);
void fl_log_set_level(int level);
int fl_log_get_level(void);

/* Safe from any thread: each line goes out in a single write(2). */
void fl_log(int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define fl_debug(comp, ...) fl_log(FL_LOG_DEBUG, comp, __VA_ARGS__)
#define fl_info(comp, ...) fl_log(FL_LOG_INFO, comp, __VA_ARGS__)
#define fl_warn(comp, ...) fl_log(FL_LOG_WARN, comp, __VA_ARGS__)
#define fl_error(comp, ...) fl_log(FL_LOG_ERROR, comp, __VA_ARGS__)

#endif
