;;; pwnm-e2e.el --- drive pwnm.el against the real pwnm -*- lexical-binding: t -*-

;;; Commentary:

;; Run by tests/T510-emacs-push.t, one step per batch Emacs, with
;; pwnm.el and notmuch-emacs on the load path, this file loaded and
;; "-f pwnm-e2e-main STEP ARGS..." on the command line.  The
;; environment holds NOTMUCH_CONFIG, the throwaway notmuch
;; configuration, and
;;   PWNM_E2E_COMMAND  the pwnm program (`pwnm-command')
;;   PWNM_E2E_OUT      the directory the results are written to
;;
;; Steps:
;;
;;   hello
;;     Render notmuch-hello with the default sections after
;;     `pwnm-enable'; write the buffer text to hello.txt.
;;
;;   set-state MSGID PROJECT STATE
;;     Open id:MSGID with `notmuch-show', call `pwnm-set-state' as a
;;     program would, wait (15 s at most) for the push the after-tag
;;     hook starts and write result.txt, one "key: value" a line:
;;       pushes     the command lines of the push processes started
;;       finished   "yes", or "timeout" when a push still ran
;;       exit       the exit status of the last push
;;       error      "none", or the error signalled on the way
;;     and messages.txt, the text of the *Messages* buffer.
;;
;;   browse MSGID PROJECT
;;     Open id:MSGID with `notmuch-show' and call `pwnm-browse-patch',
;;     answering PROJECT when asked; write result.txt with
;;       offered    the projects offered, space-separated
;;       url        the address given to `browse-url'
;;       error      "none", or the error signalled on the way
;;
;; The assertions are made by the shell script.

;;; Code:

(require 'cl-lib)
(require 'notmuch)
(require 'pwnm)

(setq notmuch-command "notmuch")

(defvar pwnm-e2e--out (getenv "PWNM_E2E_OUT")
  "The directory the results go to.")

(defvar pwnm-e2e--pushes nil
  "The push processes started, newest first.")

(defun pwnm-e2e--write (name text)
  "Write TEXT to the file NAME in `pwnm-e2e--out'."
  (let ((coding-system-for-write 'utf-8-unix))
    (write-region text nil (expand-file-name name pwnm-e2e--out) nil 'silent)))

(defun pwnm-e2e--record-push (orig &rest args)
  "Call ORIG, `make-process', with ARGS; remember the pwnm push processes."
  (let ((proc (apply orig args)))
    (when (equal (plist-get args :name) "pwnm-push")
      (push proc pwnm-e2e--pushes))
    proc))

(defun pwnm-e2e--hello ()
  "Render notmuch-hello and write its text to hello.txt."
  (let ((notmuch-hello-auto-refresh nil))
    (notmuch-hello)
    (pwnm-e2e--write "hello.txt"
		     (buffer-substring-no-properties (point-min) (point-max)))))

(defun pwnm-e2e--wait ()
  "Wait until the push processes have ended and been reported.
Return \"yes\", or \"timeout\" after 15 s."
  (let ((deadline (+ (float-time) 15)))
    (while (and (< (float-time) deadline)
		(or (cl-some #'process-live-p pwnm-e2e--pushes)
		    pwnm--push-process))
      (accept-process-output nil 0.05))
    (if (or (cl-some #'process-live-p pwnm-e2e--pushes) pwnm--push-process)
	"timeout"
      "yes")))

(defun pwnm-e2e--set-state (msgid project state)
  "Set STATE in PROJECT on MSGID from a show buffer; record what happened."
  (let ((err "none")
	(finished "no"))
    (advice-add 'make-process :around #'pwnm-e2e--record-push)
    (condition-case failure
	(progn
	  (notmuch-show (concat "id:" msgid))
	  (pwnm-set-state state project)
	  (setq finished (pwnm-e2e--wait)))
      (error (setq err (error-message-string failure))))
    (advice-remove 'make-process #'pwnm-e2e--record-push)
    (pwnm-e2e--write
     "result.txt"
     (concat
      (format "pushes: %s\n"
	      (mapconcat (lambda (p) (mapconcat #'identity (process-command p) " "))
			 (reverse pwnm-e2e--pushes) " | "))
      (format "finished: %s\n" finished)
      (format "exit: %s\n" (if pwnm-e2e--pushes
			       (process-exit-status (car pwnm-e2e--pushes))
			     "-"))
      (format "error: %s\n" err)))
    (pwnm-e2e--write "messages.txt"
		     (with-current-buffer (messages-buffer)
		       (buffer-substring-no-properties (point-min) (point-max))))))

(defun pwnm-e2e--browse (msgid project)
  "Open the web page of MSGID, choosing PROJECT; record what happened."
  (let ((err "none") offered url)
    (condition-case failure
	(cl-letf (((symbol-function 'completing-read)
		   (lambda (_prompt collection &rest _)
		     (setq offered collection)
		     project))
		  ((symbol-function 'browse-url)
		   (lambda (u &rest _) (setq url u))))
	  (notmuch-show (concat "id:" msgid))
	  (pwnm-browse-patch))
      (error (setq err (error-message-string failure))))
    (pwnm-e2e--write "result.txt"
		     (format "offered: %s\nurl: %s\nerror: %s\n"
			     (mapconcat #'identity offered " ") url err))))

(defun pwnm-e2e-main ()
  "Run the step named by the remaining command line arguments, then exit."
  (let ((args command-line-args-left))
    (setq command-line-args-left nil)
    (unless (and pwnm-e2e--out (getenv "PWNM_E2E_COMMAND")
		 (getenv "NOTMUCH_CONFIG"))
      (error "Run this file through tests/T510-emacs-push.t"))
    (setq pwnm-command (getenv "PWNM_E2E_COMMAND"))
    (pwnm-enable)
    (pcase args
      (`("hello") (pwnm-e2e--hello))
      (`("set-state" ,msgid ,project ,state)
       (pwnm-e2e--set-state msgid project state))
      (`("browse" ,msgid ,project)
       (pwnm-e2e--browse msgid project))
      (_ (error "Unknown step: %S" args)))
    (kill-emacs 0)))

(provide 'pwnm-e2e)

;;; pwnm-e2e.el ends here
